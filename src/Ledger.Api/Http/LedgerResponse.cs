using System.Text.Json;
using Ledger.Api.ServiceDefaults;
using Microsoft.AspNetCore.Http.Metadata;
using Microsoft.AspNetCore.Mvc;

namespace Ledger.Api.Http;

/// <summary>
/// A response as bytes and a few headers: what the write endpoints answer and what an Idempotency-Key keeps, so that a
/// retried request gets exactly the original answer back.
/// </summary>
/// <remarks>
/// An endpoint returning it declares its responses itself (<c>Produces</c>, <c>ProducesProblem</c>): as an
/// <see cref="IEndpointMetadataProvider"/> that adds nothing, it keeps Wolverine.Http from advertising a 200 and a 404
/// that the write endpoints never answer.
/// </remarks>
public sealed record LedgerResponse(int Status, string ContentType, string Body, string? ETag = null, string? Location = null)
    : IResult, IEndpointMetadataProvider
{
    /// <inheritdoc/>
    public static void PopulateMetadata(System.Reflection.MethodInfo method, EndpointBuilder builder)
    {
    }

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public static LedgerResponse Created<T>(T body, string? location, long? version) =>
        new(StatusCodes.Status201Created, "application/json", JsonSerializer.Serialize(body, Json),
            version is null ? null : $"\"{version}\"", location);

    public static LedgerResponse Problem(
        HttpContext context, int status, string type, string title, string detail, IDictionary<string, object?>? extensions = null)
    {
        var problem = new ProblemDetails { Status = status, Type = type, Title = title, Detail = detail };
        return FromProblem(context, problem, extensions);
    }

    public static LedgerResponse Validation(HttpContext context, IDictionary<string, string[]> errors, string detail)
    {
        var problem = new HttpValidationProblemDetails(errors)
        {
            Status = StatusCodes.Status400BadRequest,
            Type = ProblemTypes.ValidationFailed,
            Title = "The request is not valid.",
            Detail = detail,
        };
        return FromProblem(context, problem, null);
    }

    private static LedgerResponse FromProblem(HttpContext context, ProblemDetails problem, IDictionary<string, object?>? extensions)
    {
        foreach (var (key, value) in extensions ?? new Dictionary<string, object?>()) problem.Extensions[key] = value;
        if (CorrelationId.Find(context) is { } correlationId) problem.Extensions["correlationId"] = correlationId;
        var body = problem is HttpValidationProblemDetails validation
            ? JsonSerializer.Serialize(validation, Json)
            : JsonSerializer.Serialize(problem, Json);
        return new LedgerResponse(problem.Status!.Value, "application/problem+json", body);
    }

    public async Task ExecuteAsync(HttpContext httpContext)
    {
        ArgumentNullException.ThrowIfNull(httpContext);
        var response = httpContext.Response;
        response.StatusCode = Status;
        response.ContentType = ContentType;
        if (ETag is not null) response.Headers.ETag = ETag;
        if (Location is not null) response.Headers.Location = Location;
        await response.WriteAsync(Body, httpContext.RequestAborted);
    }
}
