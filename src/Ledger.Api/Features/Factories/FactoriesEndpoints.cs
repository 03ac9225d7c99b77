using System.Text.Json;
using FluentValidation;
using Ledger.Api.Access;
using Ledger.Api.Http;
using Ledger.Api.ServiceDefaults.OpenApi;
using Ledger.Production.Factories;
using Ledger.Production.Geography;
using Ledger.Production.Units.Validation;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Ledger.Api.Features.Factories;

/// <summary>A factory on the wire.</summary>
/// <param name="Id">Lower-case id, as used in <c>UnitBuilt.factoryId</c>.</param>
/// <param name="Name">Display name.</param>
/// <param name="Location">Where it is.</param>
/// <param name="Country">ISO 3166-1 alpha-2 code.</param>
/// <param name="TimeZone">IANA time zone; daily figures use its local days.</param>
/// <param name="Status">planned, under-construction, producing or closed.</param>
/// <param name="NameplateUnitsPerYear">Design capacity, when published.</param>
/// <param name="ConstructionStarted">Local date construction began.</param>
/// <param name="ProductionStarted">Local date production started; builds before it are refused.</param>
public sealed record FactoryDocument(
    string? Id, string? Name, string? Location, string? Country, string? TimeZone, string? Status,
    int? NameplateUnitsPerYear, DateOnly? ConstructionStarted, DateOnly? ProductionStarted)
{
    internal static FactoryDocument From(Factory f) => new(f.Id, f.Name, f.Location, f.Country, f.TimeZoneId,
        FactoryStatuses.ToText(f.Status), f.NameplateUnitsPerYear, f.ConstructionStarted, f.ProductionStarted);

    internal Factory ToFactory() => new(Id!, Name!, Location!, Country!.ToUpperInvariant(), TimeZone!,
        FactoryStatuses.Parse(Status!), NameplateUnitsPerYear, ConstructionStarted, ProductionStarted);
}

internal sealed class FactoryDocumentValidator : AbstractValidator<FactoryDocument>
{
    public FactoryDocumentValidator()
    {
        // One failure per field, and no check after a failed one: Must() on a null country or time zone threw (a 500,
        // found by the reliability suite's fuzzer).
        RuleLevelCascadeMode = CascadeMode.Stop;
        RuleFor(f => f.Id).NotEmpty().FactoryId().OverridePropertyName("id");
        RuleFor(f => f.Name).NotEmpty().Name().OverridePropertyName("name");
        RuleFor(f => f.Location).NotEmpty().Name().OverridePropertyName("location");
        RuleFor(f => f.Country).NotEmpty()
            .Must(c => Countries.IsAssigned(c!.ToUpperInvariant())).WithMessage("Must be an assigned ISO 3166-1 alpha-2 code, such as US or CN.")
            .OverridePropertyName("country");
        RuleFor(f => f.TimeZone).NotEmpty()
            .Must(z => TimeZoneInfo.TryFindSystemTimeZoneById(z!, out _)).WithMessage("Must be an IANA time zone, such as Asia/Shanghai.")
            .OverridePropertyName("timeZone");
        RuleFor(f => f.Status).NotEmpty()
            .Must(s => FactoryStatuses.TryParse(s, out _)).WithMessage($"Must be one of {string.Join(", ", FactoryStatuses.Names)}.")
            .OverridePropertyName("status");
        RuleFor(f => f.NameplateUnitsPerYear).InclusiveBetween(1, 1_000_000).OverridePropertyName("nameplateUnitsPerYear");
        RuleFor(f => f.ProductionStarted).NotNull().When(f => f.Status == "producing")
            .WithMessage("A producing factory needs its production start date.").OverridePropertyName("productionStarted");
        RuleFor(f => f.ProductionStarted).GreaterThanOrEqualTo(f => f.ConstructionStarted)
            .When(f => f.ProductionStarted is not null && f.ConstructionStarted is not null)
            .WithMessage("Production cannot start before construction.").OverridePropertyName("productionStarted");
    }
}

/// <summary><c>GET</c> and <c>POST /api/v1/factories</c>: the factory registry.</summary>
public static class FactoriesEndpoints
{
    private static readonly FactoryDocumentValidator Validator = new();

    public static RouteGroupBuilder MapFactories(this RouteGroupBuilder api)
    {
        ArgumentNullException.ThrowIfNull(api);
        api.MapGet("/factories", List)
            .WithName("ListFactories")
            .WithSummary("The factory registry: every factory with its status, capacity, time zone and dates.")
            .WithDescription("Seeded with Lathrop, Shanghai and Waller County; each node reloads it every 5 seconds, and at once after a change made through it.")
            .WithResponseExample(StatusCodes.Status200OK, FactoriesExamples.List)
            .RequireAnyRole();
        api.MapPost("/factories", SaveAsync)
            .WithName("SaveFactory")
            .WithSummary("Add a factory, or replace one with the same id (for example when it starts producing).")
            .WithDescription("""
                201 for a new factory, 200 for a replaced one. `status` is planned, under-construction, producing or closed;
                only a producing factory may record builds, and not before its production start (local midnight).
                """)
            .Accepts<FactoryDocument>("application/json")
            .WithRequestExample("Waller County starts producing", FactoriesExamples.Waller)
            .Produces<FactoryDocument>(StatusCodes.Status201Created)
            .Produces<FactoryDocument>(StatusCodes.Status200OK)
            .WithResponseExample(StatusCodes.Status201Created, FactoriesExamples.Waller)
            .WithResponseExample(StatusCodes.Status200OK, FactoriesExamples.Shanghai)
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .ProducesProblem(StatusCodes.Status415UnsupportedMediaType)
            .RequireRole(LedgerRole.Admin);
        return api;
    }

    private static Ok<IReadOnlyList<FactoryDocument>> List(FactoryRegistry registry) =>
        TypedResults.Ok<IReadOnlyList<FactoryDocument>>([.. registry.All.Select(FactoryDocument.From)]);

    private static async Task<IResult> SaveAsync(HttpContext context, FactoryRegistry registry, CancellationToken cancellationToken)
    {
        var (document, refusal) = await RequestBody.ReadJsonAsync(context, 64 * 1024);
        if (refusal is not null) return refusal;
        FactoryDocument? factory;
        using (document)
        {
            try
            {
                factory = document!.RootElement.Deserialize<FactoryDocument>(Json);
            }
            catch (JsonException e)
            {
                return LedgerResponse.Validation(context, new Dictionary<string, string[]> { [e.Path ?? "$"] = [e.Message.Split(". Path:")[0]] },
                    "The factory could not be read.");
            }
        }

        if (factory is null) return LedgerResponse.Validation(context, new Dictionary<string, string[]> { ["$"] = ["Send a factory object."] }, "Nothing to save.");
        var result = Validator.Validate(factory);
        if (!result.IsValid)
        {
            return LedgerResponse.Validation(context,
                result.Errors.GroupBy(e => e.PropertyName).ToDictionary(g => g.Key, g => g.Select(e => e.ErrorMessage).ToArray()),
                "The factory was not saved; fix the fields named in errors.");
        }

        var saved = factory.ToFactory();
        var created = await registry.SaveAsync(saved, cancellationToken);
        var body = FactoryDocument.From(saved);
        return created ? TypedResults.Created($"/api/v1/factories/{saved.Id}", body) : TypedResults.Ok(body);
    }

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        UnmappedMemberHandling = System.Text.Json.Serialization.JsonUnmappedMemberHandling.Disallow,
    };
}
