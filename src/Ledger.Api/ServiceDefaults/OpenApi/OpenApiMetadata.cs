namespace Ledger.Api.ServiceDefaults.OpenApi;

/// <summary>An example request body for the endpoint's OpenAPI description (see <see cref="OpenApiMetadata.WithRequestExample"/>).</summary>
public sealed record RequestExample(string Name, string Json, string ContentType = "application/json");

/// <summary>An example response body for one status code (see <see cref="OpenApiMetadata.WithResponseExample"/>).</summary>
public sealed record ResponseExample(int Status, string Json, string ContentType = "application/json");

/// <summary>What a parameter or a request header means (see <see cref="OpenApiMetadata.WithParameter"/>).</summary>
public sealed record ParameterDescription(string Name, string Description, ParameterPlace Place = ParameterPlace.Bound);

/// <summary>Where a described parameter is.</summary>
public enum ParameterPlace
{
    /// <summary>A route or query parameter the handler binds (it is in the description already).</summary>
    Bound,

    /// <summary>A request header the handler reads itself (<c>If-Match</c>, <c>Idempotency-Key</c>): added to the description.</summary>
    Header,
}

/// <summary>
/// Endpoint metadata that only the OpenAPI document reads: examples and parameter descriptions, declared beside the
/// endpoint like its name and summary. The document transformer turns them into OpenAPI examples and descriptions.
/// </summary>
public static class OpenApiMetadata
{
    /// <summary>A named example of the request body (JSON text).</summary>
    public static TBuilder WithRequestExample<TBuilder>(this TBuilder builder, string name, string json)
        where TBuilder : IEndpointConventionBuilder => builder.WithMetadata(new RequestExample(name, json));

    /// <summary>An example of the response body for <paramref name="status"/> (JSON text).</summary>
    public static TBuilder WithResponseExample<TBuilder>(this TBuilder builder, int status, string json, string contentType = "application/json")
        where TBuilder : IEndpointConventionBuilder => builder.WithMetadata(new ResponseExample(status, json, contentType));

    /// <summary>Describes a route or query parameter, or a request header the handler reads.</summary>
    public static TBuilder WithParameter<TBuilder>(this TBuilder builder, string name, string description, ParameterPlace place = ParameterPlace.Bound)
        where TBuilder : IEndpointConventionBuilder => builder.WithMetadata(new ParameterDescription(name, description, place));
}
