using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.Options;

namespace Ledger.Api.ServiceDefaults;

/// <summary>
/// A request Kestrel found malformed only once the application read it (a body shorter than its Content-Length, broken
/// chunking, a body trickling in too slowly) is the client's error: its own 4xx as a problem, not a 500. Found by the
/// reliability suite's fuzzer (tests/Ledger.Reliability.Tests), where such requests were answered 500.
/// </summary>
internal sealed class BadRequestBody(IProblemDetailsService problems) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext httpContext, Exception exception, CancellationToken cancellationToken)
    {
        if (exception is not BadHttpRequestException bad) return false;
        httpContext.Response.StatusCode = bad.StatusCode;
        return await problems.TryWriteAsync(new ProblemDetailsContext
        {
            HttpContext = httpContext,
            ProblemDetails =
            {
                Status = bad.StatusCode,
                Type = ProblemTypes.ForStatus(bad.StatusCode),
                Title = "The request could not be read.",
                Detail = "The request did not arrive as its headers announced (Content-Length, chunked encoding) or in time.",
            },
        });
    }
}

/// <summary>
/// Writes problems as <c>application/problem+json</c> even to a client whose Accept header leaves JSON out (say
/// <c>Accept: application/x-ndjson</c>), which the framework's writer declines, leaving a text/plain error behind. Every
/// error of the ledger is problem+json (docs/api.md); HTTP lets an error response ignore Accept. Registered after the
/// framework's writer, so it only writes what that one declines. Found by the fuzzer.
/// </summary>
internal sealed class ProblemJsonWriter(IOptions<ProblemDetailsOptions> options) : IProblemDetailsWriter
{
    public bool CanWrite(ProblemDetailsContext context) => true;

    public ValueTask WriteAsync(ProblemDetailsContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var problem = context.ProblemDetails;
        var status = problem.Status ??= context.HttpContext.Response.StatusCode;
        problem.Title ??= ReasonPhrases.GetReasonPhrase(status);
        options.Value.CustomizeProblemDetails?.Invoke(context);
        return new ValueTask(context.HttpContext.Response.WriteAsJsonAsync(
            problem, problem.GetType(), options: null, contentType: "application/problem+json", context.HttpContext.RequestAborted));
    }
}
