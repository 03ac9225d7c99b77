using System.Text.Json.Nodes;
using Ledger.Api.Access;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;

namespace Ledger.Api.ServiceDefaults.OpenApi;

/// <summary>
/// The API description: <c>/openapi/v1.json</c> (Microsoft.AspNetCore.OpenApi) and Swagger UI at <c>/swagger</c>
/// (Swashbuckle's UI, pointed at that document). Both public. Every <c>/api/v1</c> operation gets the Bearer API-key
/// security requirement with the role it declares, the problems every endpoint can answer (401, 403, 500, 503) besides
/// its own, and the examples declared beside it (<see cref="OpenApiMetadata"/>).
/// </summary>
public static class LedgerOpenApi
{
    public const string DocumentName = "v1";
    public const string DocumentPath = "/openapi/{documentName}.json";
    public const string SwaggerPath = "/swagger";
    public const string SecuritySchemeId = "ApiKey";
    private const string ProblemJson = "application/problem+json";

    internal static IServiceCollection AddLedgerOpenApi(this IServiceCollection services) =>
        services.AddOpenApi(DocumentName, options =>
        {
            options.AddDocumentTransformer((document, _, _) =>
            {
                Describe(document);
                return Task.CompletedTask;
            });
            options.AddOperationTransformer((operation, context, _) =>
            {
                Describe(operation, context);
                return Task.CompletedTask;
            });
        });

    internal static void MapLedgerOpenApi(this WebApplication app)
    {
        app.MapOpenApi(DocumentPath).WithName("OpenApiDocument").AllowPublic();

        // Swagger UI is middleware serving its page and embedded assets; run as the endpoint of /swagger/** so the
        // endpoint table declares it public like everything else. Its static files refuse to answer while an endpoint is
        // set (they would shadow it), so the endpoint steps aside for the UI's own pipeline.
        var ui = ((IApplicationBuilder)app).New()
            .UseSwaggerUI(options =>
            {
                options.RoutePrefix = SwaggerPath.TrimStart('/');
                options.DocumentTitle = "Megapack production ledger API";
                options.SwaggerEndpoint(DocumentPath.Replace("{documentName}", DocumentName, StringComparison.Ordinal), "Ledger API v1");
                options.EnablePersistAuthorization();
                options.DisplayRequestDuration();
            })
            .Build();
        app.MapGet(SwaggerPath + "/{**asset}", async context =>
            {
                var endpoint = context.GetEndpoint();
                context.SetEndpoint(null);
                try
                {
                    await ui(context);
                }
                finally
                {
                    context.SetEndpoint(endpoint);
                }
            })
            .WithName("SwaggerUI")
            .AllowPublic()
            .ExcludeFromDescription();
    }

    private static void Describe(OpenApiDocument document)
    {
        document.Info = new OpenApiInfo
        {
            Title = "Megapack production ledger",
            Version = "v1",
            Description = """
                An event-sourced ledger of Megapack units: line systems record what happened to each unit, reporting services
                read projections, auditors replay history. Every request carries an API key (`Authorization: Bearer ldg_...`);
                each operation states the role it needs. Errors are RFC 9457 `application/problem+json` with a stable `type`
                URI per kind of error (see docs/api.md, "Error catalogue").
                """,
        };
        document.Components ??= new OpenApiComponents();
        document.Components.SecuritySchemes ??= new Dictionary<string, IOpenApiSecurityScheme>();
        document.Components.SecuritySchemes[SecuritySchemeId] = new OpenApiSecurityScheme
        {
            Type = SecuritySchemeType.Http,
            Scheme = "bearer",
            BearerFormat = "ldg_<key id: 32 hex digits>_<secret: 43 base64url characters>",
            Description = "An API key made with `ledger keys create` (shown once). Roles: line, reporting, auditor, admin.",
        };
        document.Tags = new HashSet<OpenApiTag>(
            new LedgerRole?[] { null, LedgerRole.Line, LedgerRole.Reporting, LedgerRole.Auditor, LedgerRole.Admin }.Select(r => new OpenApiTag { Name = TagFor(r) }));
    }

    private static void Describe(OpenApiOperation operation, OpenApiOperationTransformerContext context)
    {
        var metadata = context.Description.ActionDescriptor.EndpointMetadata;
        var access = metadata.OfType<LedgerAccess>().LastOrDefault();
        if (access is null || access.IsPublic)
        {
            operation.Security = [];
        }
        else
        {
            operation.Security =
            [
                new OpenApiSecurityRequirement
                {
                    [new OpenApiSecuritySchemeReference(SecuritySchemeId, context.Document)] = access.Role is { } role ? [role.ToText()] : [],
                },
            ];
            var roles = access.Role is { } required
                ? string.Join(", ", LedgerRoles.All.Where(r => r.Satisfies(required)).Select(r => $"`{r.ToText()}`"))
                : "any role";
            operation.Description = $"{operation.Description}\n\n**Access:** an API key of {roles}.".TrimStart();
            operation.Tags = new HashSet<OpenApiTagReference> { new(TagFor(access.Role), context.Document) };
            AddCommonProblems(operation);
        }

        foreach (var example in metadata.OfType<RequestExample>())
        {
            if (operation.RequestBody?.Content?.TryGetValue(example.ContentType, out var media) is not true) continue;
            media.Examples ??= new Dictionary<string, IOpenApiExample>();
            media.Examples[example.Name] = new OpenApiExample { Summary = example.Name, Value = JsonNode.Parse(example.Json) };
        }

        foreach (var example in metadata.OfType<ResponseExample>())
        {
            var key = example.Status.ToString(System.Globalization.CultureInfo.InvariantCulture);
            if (operation.Responses?.TryGetValue(key, out var response) is not true || response.Content is null) continue;
            if (response.Content.TryGetValue(example.ContentType, out var media))
            {
                media.Example = JsonNode.Parse(example.Json);
            }
            else if (example.Status >= 400 && response.Content.TryGetValue(ProblemJson, out var problem))
            {
                problem.Example = JsonNode.Parse(example.Json);
            }
            else if (!example.ContentType.EndsWith("json", StringComparison.Ordinal))
            {
                // Another representation of the same response (NDJSON): shown as text.
                response.Content[example.ContentType] = new OpenApiMediaType
                {
                    Schema = new OpenApiSchema { Type = JsonSchemaType.String },
                    Example = JsonValue.Create(example.Json),
                };
            }
        }

        foreach (var (status, response) in operation.Responses ?? [])
        {
            if (response.Content?.TryGetValue(ProblemJson, out var problem) is not true || problem.Example is not null) continue;
            if (int.TryParse(status, out var code) && ProblemExamples.For(code) is { } example) problem.Example = JsonNode.Parse(example);
        }

        DescribeParameters(operation, metadata);
    }

    private static void DescribeParameters(OpenApiOperation operation, IList<object> metadata)
    {
        foreach (var described in metadata.OfType<ParameterDescription>())
        {
            if (described.Place == ParameterPlace.Header)
            {
                operation.Parameters ??= [];
                operation.Parameters.Add(new OpenApiParameter
                {
                    Name = described.Name,
                    In = ParameterLocation.Header,
                    Description = described.Description,
                    Schema = new OpenApiSchema { Type = JsonSchemaType.String },
                });
                continue;
            }

            if (operation.Parameters?.FirstOrDefault(p => string.Equals(p.Name, described.Name, StringComparison.Ordinal)) is OpenApiParameter parameter)
            {
                parameter.Description = described.Description;
            }
        }
    }

    /// <summary>What any endpoint behind a key may answer besides its own problems.</summary>
    private static void AddCommonProblems(OpenApiOperation operation)
    {
        operation.Responses ??= [];
        var schema = operation.Responses.Values
            .Select(r => r.Content is not null && r.Content.TryGetValue(ProblemJson, out var media) ? media.Schema : null)
            .FirstOrDefault(s => s is not null);
        foreach (var (status, description) in CommonProblems)
        {
            var key = status.ToString(System.Globalization.CultureInfo.InvariantCulture);
            if (!operation.Responses.TryGetValue(key, out var response))
            {
                operation.Responses[key] = response = new OpenApiResponse
                {
                    Content = new Dictionary<string, OpenApiMediaType> { [ProblemJson] = new() { Schema = schema } },
                };
            }

            if (response is OpenApiResponse concrete) concrete.Description = description;
        }
    }

    private static readonly (int Status, string Description)[] CommonProblems =
    [
        (401, "No API key, or a malformed, unknown or revoked one (`unauthorized`; `WWW-Authenticate: Bearer`)."),
        (403, "The key's role does not allow this endpoint (`forbidden`)."),
        (500, "The ledger could not complete the request (`internal-error`); quote the correlation id."),
        (503, "The database is unreachable (`service-unavailable`, `Retry-After: 5`); retry with the same Idempotency-Key or event ids."),
    ];

    private static string TagFor(LedgerRole? role) => role switch
    {
        LedgerRole.Line => "Recording (line systems)",
        LedgerRole.Reporting => "Reading (reporting)",
        LedgerRole.Auditor => "History and projections (auditors)",
        LedgerRole.Admin => "Administration",
        _ => "Any key",
    };
}
