using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Ledger.Api.Access;
using Ledger.Api.ServiceDefaults;
using Ledger.Api.Tests.Support;
using Ledger.Testing;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace Ledger.Api.Tests.Operations;

/// <summary>
/// The OpenAPI document is walked operation by operation, so an endpoint added without its summary, its key requirement,
/// its problem responses or its examples fails here rather than shipping undocumented.
/// </summary>
public sealed class OpenApiDocumentTests(DatabaseFixture database) : IClassFixture<DatabaseFixture>, IAsyncDisposable
{
    private const string ProblemJson = "application/problem+json";
    private static readonly string[] CommonProblems = ["401", "403", "500", "503"];
    private readonly LedgerApiFactory _api = new(database.ConnectionString);
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task The_document_is_public_and_has_an_operation_for_every_api_endpoint_in_the_endpoint_table()
    {
        var document = await DocumentAsync();

        Assert.StartsWith("3.", document["openapi"]!.GetValue<string>(), StringComparison.Ordinal);
        var described = Operations(document).Select(o => $"{o.Method} {o.Path}").Order(StringComparer.Ordinal).ToList();
        var mapped = ApiEndpoints().SelectMany(e => e.Methods.Split(',').Select(m => $"{m} {e.Route}")).Order(StringComparer.Ordinal).ToList();
        Assert.NotEmpty(mapped);
        Assert.Equal(mapped, described);
        var ids = Operations(document).Select(o => o.Operation["operationId"]?.GetValue<string>()).ToList();
        Assert.All(ids, id => Assert.False(string.IsNullOrWhiteSpace(id)));
        Assert.Equal(ids.Count, ids.Distinct(StringComparer.Ordinal).Count());
    }

    [Fact]
    public async Task Every_api_operation_has_a_summary_a_description_the_api_key_requirement_of_its_role_and_its_problem_responses()
    {
        var document = await DocumentAsync();
        var scheme = document["components"]!["securitySchemes"]![LedgerOpenApiScheme]!;
        Assert.Equal("http", scheme["type"]!.GetValue<string>());
        Assert.Equal("bearer", scheme["scheme"]!.GetValue<string>());
        var roles = ApiEndpoints().SelectMany(e => e.Methods.Split(',').Select(m => (Key: $"{m} {e.Route}", e.Access))).ToDictionary(e => e.Key, e => e.Access);

        var failures = new List<string>();
        foreach (var (method, path, operation) in Operations(document))
        {
            var at = $"{method} {path}";
            if (string.IsNullOrWhiteSpace(operation["summary"]?.GetValue<string>())) failures.Add($"{at}: no summary");
            // The description says what the endpoint does; the access line the document adds to every one does not count.
            var description = operation["description"]?.GetValue<string>() ?? string.Empty;
            if (string.IsNullOrWhiteSpace(description.Split("**Access:**")[0])) failures.Add($"{at}: no description");

            // Exactly the API-key scheme, naming the role the endpoint table declares (none for "any role").
            var security = operation["security"] as JsonArray;
            var requirement = security is [JsonObject only] && only.Count == 1 ? only[LedgerOpenApiScheme] as JsonArray : null;
            var declared = roles[at]?.Role?.ToText();
            if (requirement is null) failures.Add($"{at}: no security requirement for the {LedgerOpenApiScheme} scheme");
            else if (!requirement.Select(r => r!.GetValue<string>()).SequenceEqual(declared is null ? [] : [declared])) failures.Add($"{at}: security names [{string.Join(",", requirement)}], the endpoint table {roles[at]}");

            var responses = operation["responses"]!.AsObject();
            failures.AddRange(CommonProblems.Where(s => !responses.ContainsKey(s)).Select(s => $"{at}: no {s} response"));
            if (!responses.Any(r => r.Key.StartsWith('2'))) failures.Add($"{at}: no success response");
            var parameters = (operation["parameters"] as JsonArray ?? []).Select(p => p!["in"]!.GetValue<string>()).ToList();
            if ((parameters.Contains("query") || operation["requestBody"] is not null) && !responses.ContainsKey("400")) failures.Add($"{at}: takes input but has no 400");
            if (parameters.Contains("path") && !responses.ContainsKey("404")) failures.Add($"{at}: has a path parameter but no 404");

            foreach (var (status, response) in responses.Where(r => int.Parse(r.Key, System.Globalization.CultureInfo.InvariantCulture) >= 400))
            {
                var content = response!["content"] as JsonObject;
                if (content is null || content.Count != 1 || content[ProblemJson] is not JsonObject problem)
                {
                    failures.Add($"{at} {status}: not (only) {ProblemJson}");
                    continue;
                }

                var schema = problem["schema"]?["$ref"]?.GetValue<string>();
                if (schema is not ("#/components/schemas/ProblemDetails" or "#/components/schemas/HttpValidationProblemDetails")) failures.Add($"{at} {status}: schema {schema}");
                if (problem["example"] is not JsonObject example) failures.Add($"{at} {status}: no example");
                else if (example["status"]?.GetValue<int>().ToString(System.Globalization.CultureInfo.InvariantCulture) != status
                         || example["type"]?.GetValue<string>().StartsWith(ProblemTypes.Base, StringComparison.Ordinal) != true)
                {
                    failures.Add($"{at} {status}: the example's status or type is wrong");
                }

                if (string.IsNullOrWhiteSpace(response["description"]?.GetValue<string>())) failures.Add($"{at} {status}: no description");
            }
        }

        Assert.True(failures.Count == 0, string.Join(Environment.NewLine, failures));
    }

    [Fact]
    public async Task Every_api_operation_has_request_and_response_examples_that_fit_their_schemas()
    {
        var document = await DocumentAsync();
        var failures = new List<string>();
        foreach (var (method, path, operation) in Operations(document))
        {
            var at = $"{method} {path}";
            if (operation["requestBody"]?["content"]?["application/json"] is JsonObject request)
            {
                var examples = (request["examples"] as JsonObject)?.Select(e => (e.Key, e.Value!["value"])).ToList() ?? [];
                if (request["example"] is { } single) examples.Add(("example", single));
                if (examples.Count == 0) failures.Add($"{at}: no request example");
                foreach (var (name, value) in examples) Fit(value, request["schema"], document, $"{at} request example '{name}'", failures);
            }

            foreach (var (status, response) in operation["responses"]!.AsObject().Where(r => r.Key.StartsWith('2')))
            {
                if (response!["content"] is not JsonObject content)
                {
                    failures.Add($"{at} {status}: no content");
                    continue;
                }

                foreach (var (type, media) in content)
                {
                    if (media!["example"] is not { } example) failures.Add($"{at} {status} {type}: no example");
                    else if (type == "application/json") Fit(example, media["schema"], document, $"{at} {status} example", failures);
                }
            }
        }

        Assert.True(failures.Count == 0, string.Join(Environment.NewLine, failures));
    }

    [Fact]
    public async Task Swagger_UI_is_served_without_a_key_and_reads_the_document()
    {
        using var client = _api.CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false });

        using var root = await client.GetAsync(new Uri("/swagger", UriKind.Relative), Ct);
        Assert.True(root.StatusCode is HttpStatusCode.MovedPermanently or HttpStatusCode.Redirect, $"GET /swagger: {root.StatusCode}");
        Assert.EndsWith("index.html", root.Headers.Location?.ToString(), StringComparison.Ordinal);

        using var page = await client.GetAsync(new Uri("/swagger/index.html", UriKind.Relative), Ct);
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Equal("text/html", page.Content.Headers.ContentType?.MediaType);
        Assert.Contains("<div id=\"swagger-ui\">", await page.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);

        var script = await client.GetStringAsync(new Uri("/swagger/index.js", UriKind.Relative), Ct);
        Assert.Contains("\"url\":\"/openapi/v1.json\"", script, StringComparison.Ordinal);

        // The UI's own assets come from the embedded bundle, through the public endpoint.
        using var bundle = await client.GetAsync(new Uri("/swagger/swagger-ui-bundle.js", UriKind.Relative), Ct);
        Assert.Equal(HttpStatusCode.OK, bundle.StatusCode);
        Assert.True((await bundle.Content.ReadAsByteArrayAsync(Ct)).Length > 100_000);
    }

    private const string LedgerOpenApiScheme = Ledger.Api.ServiceDefaults.OpenApi.LedgerOpenApi.SecuritySchemeId;

    private List<EndpointAccessEntry> ApiEndpoints() =>
        [.. _api.Services.GetRequiredService<EndpointDataSource>().DescribeEndpoints().Where(e => e.Route.StartsWith("/api/", StringComparison.Ordinal))];

    private async Task<JsonObject> DocumentAsync()
    {
        using var client = _api.CreateClient(); // no key
        using var response = await client.GetAsync(new Uri("/openapi/v1.json", UriKind.Relative), Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        return JsonNode.Parse(await response.Content.ReadAsStringAsync(Ct))!.AsObject();
    }

    private static IEnumerable<(string Method, string Path, JsonObject Operation)> Operations(JsonObject document) =>
        document["paths"]!.AsObject().SelectMany(path => path.Value!.AsObject()
            .Where(o => o.Key is "get" or "post" or "put" or "patch" or "delete")
            .Select(o => (o.Key.ToUpperInvariant(), path.Key, o.Value!.AsObject())));

    /// <summary>
    /// The example fits the schema: every property it has is declared, every required one is there, and each value is of
    /// a type the schema allows — so an example cannot drift from the types it illustrates.
    /// </summary>
    private static void Fit(JsonNode? example, JsonNode? schema, JsonObject document, string at, List<string> failures)
    {
        schema = Resolve(schema, document);
        if (schema is null) return;
        if (schema["oneOf"] is JsonArray choices)
        {
            var candidates = choices.Select(c => Resolve(c, document)).Where(c => Allows(c, example)).ToList();
            if (candidates.Count == 0) failures.Add($"{at}: {Kind(example)} fits none of its oneOf choices");
            else Fit(example, candidates[0], document, at, failures);
            return;
        }

        if (!Allows(schema, example))
        {
            failures.Add($"{at}: a {Kind(example)} where the schema says {schema["type"]?.ToJsonString()}");
            return;
        }

        switch (example)
        {
            case JsonObject obj when schema["properties"] is JsonObject properties:
                foreach (var (name, value) in obj)
                {
                    if (properties[name] is { } property) Fit(value, property, document, $"{at}.{name}", failures);
                    else failures.Add($"{at}.{name}: not in the schema");
                }

                foreach (var required in schema["required"] as JsonArray ?? [])
                {
                    if (!obj.ContainsKey(required!.GetValue<string>())) failures.Add($"{at}: lacks required '{required}'");
                }

                break;
            case JsonArray array when schema["items"] is { } items:
                for (var i = 0; i < array.Count; i++) Fit(array[i], items, document, $"{at}[{i}]", failures);
                break;
        }
    }

    private static JsonNode? Resolve(JsonNode? schema, JsonObject document)
    {
        while (schema?["$ref"]?.GetValue<string>() is { } reference)
        {
            schema = document["components"]!["schemas"]![reference["#/components/schemas/".Length..]];
        }

        return schema;
    }

    private static bool Allows(JsonNode? schema, JsonNode? value)
    {
        var types = schema?["type"] switch
        {
            JsonArray many => many.Select(t => t!.GetValue<string>()).ToList(),
            JsonValue one => [one.GetValue<string>()],
            _ => null,
        };
        if (types is null) return true; // no type: anything (JsonElement data, oneOf wrappers)
        return Kind(value) switch
        {
            "integer" => types.Contains("integer") || types.Contains("number"),
            var kind => types.Contains(kind),
        };
    }

    private static string Kind(JsonNode? value) => value?.GetValueKind() switch
    {
        null or JsonValueKind.Null => "null",
        JsonValueKind.Object => "object",
        JsonValueKind.Array => "array",
        JsonValueKind.String => "string",
        JsonValueKind.True or JsonValueKind.False => "boolean",
        _ => value.GetValue<JsonElement>().TryGetInt64(out _) ? "integer" : "number",
    };

    public async ValueTask DisposeAsync() => await _api.DisposeAsync();
}
