using System.Globalization;
using Ledger.Api.Access;
using Ledger.Api.Http;
using Ledger.Api.ServiceDefaults;
using Ledger.Api.ServiceDefaults.OpenApi;
using Ledger.Production.Factories;
using Ledger.Production.Geography;
using Ledger.Production.Units;
using Ledger.ReadModels;

namespace Ledger.Api.Features.Units;

/// <summary>A page of units and where the next one starts.</summary>
/// <param name="Units">The units, in serial order.</param>
/// <param name="Next">The cursor of the next page, or null after the last one.</param>
public sealed record UnitPage(IReadOnlyList<UnitStatus> Units, string? Next);

/// <summary>
/// <c>GET /api/v1/units/{serial}</c> and <c>GET /api/v1/units</c>: each unit's status, from the inline read model (never
/// behind), or folded from its history as of a moment or a version (time travel).
/// </summary>
public static class UnitStatusEndpoints
{
    public const int DefaultPageSize = 100;
    public const int MaxPageSize = 1_000;

    /// <summary>Which global position a read reflects.</summary>
    public const string PositionHeader = "X-Ledger-Position";

    public static RouteGroupBuilder MapUnitStatus(this RouteGroupBuilder api)
    {
        ArgumentNullException.ThrowIfNull(api);
        api.MapGet("/units/{serial}", GetAsync)
            .WithName("GetUnit")
            .WithSummary("A unit's status now, or as of a moment (?asOf=) or a version (?version=) of its history.")
            .WithDescription("""
                From the UnitStatus read model, written in the same transaction as the unit's events: a read after a write
                always sees it. `ETag` is the unit's version, `X-Ledger-Position` the global position of its last event.
                With `asOf` or `version` the unit's history is folded up to that point with the same rules; a moment
                before the unit existed is 404.
                """)
            .WithParameter("serial", "The unit's serial (trimmed, upper-cased).")
            .WithParameter("asOf", "RFC 3339 moment with an offset: the unit as it was then (its events that occurred by then).")
            .WithParameter("version", "A version of the unit's stream (1 = after its first event): the unit as it was then.")
            .WithResponseExample(StatusCodes.Status200OK, UnitStatusExamples.Unit)
            .Produces<UnitStatus>()
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status404NotFound)
            .RequireRole(LedgerRole.Reporting);
        api.MapGet("/units", ListAsync)
            .WithName("ListUnits")
            .WithSummary("Units filtered by factory, state, region, country and build date, a page at a time (keyset by serial).")
            .WithDescription("""
                Every filter is optional. Units come in serial order; `next` is the opaque cursor of the next page (null
                after the last). Unknown factories, states or regions, `from` after `to`, a bad `limit` or a cursor the
                endpoint did not give out are 400 `validation-failed`, naming the parameter.
                """)
            .WithParameter("factory", "A factory id (lathrop, shanghai, ...).")
            .WithParameter("state", "built, passed, failed, reworked, in-transit, delivered, commissioned or scrapped.")
            .WithParameter("region", "A market region of the destination (Europe, Australia, North America, China, ...).")
            .WithParameter("country", "ISO 3166-1 alpha-2 code of the destination.")
            .WithParameter("from", "Built at or after this moment: RFC 3339 (2025-06-30T00:00:00Z) or a date (2025-06-30, UTC midnight).")
            .WithParameter("to", "Built before this moment: RFC 3339 or a date (UTC midnight).")
            .WithParameter("cursor", "The `next` of the previous page.")
            .WithParameter("limit", "Units per page, 1 to 1,000 (default 100).")
            .WithResponseExample(StatusCodes.Status200OK, UnitStatusExamples.Page)
            .Produces<UnitPage>()
            .ProducesValidationProblem()
            .RequireRole(LedgerRole.Reporting);
        return api;
    }

    private static async Task<IResult> GetAsync(
        string serial, string? asOf, string? version, HttpContext context, UnitStatusQuery units, EventStore.EventStore store,
        CancellationToken cancellationToken)
    {
        var errors = new Dictionary<string, string[]>(StringComparer.Ordinal);
        if (!Serial.TryParse(serial, out var unit, out var serialError)) errors["serial"] = [serialError];
        var at = ParseTime(asOf, "asOf", errors);
        long? toVersion = null;
        if (version is not null)
        {
            if (long.TryParse(version, NumberStyles.None, CultureInfo.InvariantCulture, out var v) && v >= 1) toVersion = v;
            else errors["version"] = ["Must be a stream version, 1 or more."];
        }

        if (at is not null && toVersion is not null) errors["asOf"] = ["Give asOf or version, not both."];
        if (errors.Count > 0) return LedgerResponse.Validation(context, errors, "Fix the query parameters named in errors.");

        UnitStatus? status;
        if (at is null && toVersion is null)
        {
            status = await units.GetAsync(unit.Value, cancellationToken);
        }
        else
        {
            // Time travel aggregates the unit's history live (Marten) up to the point asked for: the same rules that built
            // the live row.
            status = await UnitHistory.StatusAtAsync(store.Marten, unit.Value, toVersion, at, cancellationToken);
        }

        if (status is null)
        {
            return LedgerResponse.Problem(context, StatusCodes.Status404NotFound, ProblemTypes.UnitNotFound, "No such unit.",
                at is null && toVersion is null ? $"Unit {unit.Value} has no history." : $"Unit {unit.Value} had no history at that point.");
        }

        context.Response.Headers.ETag = $"\"{status.Version}\"";
        context.Response.Headers[PositionHeader] = status.Position.ToString(CultureInfo.InvariantCulture);
        return TypedResults.Ok(status);
    }

    private static async Task<IResult> ListAsync(
        string? factory, string? state, string? region, string? country, string? from, string? to, string? cursor, string? limit,
        HttpContext context, UnitStatusQuery units, IFactoryRegistry factories, EventStore.EventStore store, CancellationToken cancellationToken)
    {
        var errors = new Dictionary<string, string[]>(StringComparer.Ordinal);
        if (factory is not null && !factories.TryFind(factory, out _)) errors["factory"] = [$"Unknown factory '{factory}'."];
        if (state is not null && !UnitStatus.StateNames.Contains(state)) errors["state"] = [$"Must be one of {string.Join(", ", UnitStatus.StateNames)}."];
        if (region is not null && !MarketRegions.All.Contains(region)) errors["region"] = [$"Must be one of {string.Join(", ", MarketRegions.All)}."];
        var countryCode = country?.Trim().ToUpperInvariant();
        if (countryCode is not null && !Countries.IsAssigned(countryCode)) errors["country"] = ["Must be an ISO 3166-1 alpha-2 code."];
        var builtFrom = ParseTime(from, "from", errors);
        var builtTo = ParseTime(to, "to", errors);
        if (builtFrom is not null && builtTo is not null && builtFrom > builtTo) errors["from"] = ["Must not be after to."];
        var after = DecodeCursor(cursor, errors);
        var size = DefaultPageSize;
        if (limit is not null && (!int.TryParse(limit, NumberStyles.None, CultureInfo.InvariantCulture, out size) || size is < 1 or > MaxPageSize))
        {
            errors["limit"] = [$"Must be 1 to {MaxPageSize}."];
        }

        if (errors.Count > 0) return LedgerResponse.Validation(context, errors, "Fix the query parameters named in errors.");

        // The inline model is as current as the store: read the head first, so the page reflects at least it.
        context.Response.Headers[PositionHeader] = (await store.GetHeadPositionAsync(cancellationToken)).ToString(CultureInfo.InvariantCulture);
        var page = await units.ListAsync(new UnitStatusFilter(factory, state, region, countryCode, builtFrom, builtTo), after, size + 1, cancellationToken);
        var next = page.Count > size ? EncodeCursor(page[size - 1].Serial) : null;
        return TypedResults.Ok(new UnitPage([.. page.Take(size)], next));
    }

    private static DateTimeOffset? ParseTime(string? text, string name, Dictionary<string, string[]> errors)
    {
        if (text is null) return null;
        if (DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var value)) return value;
        errors[name] = ["Must be an RFC 3339 date-time (2025-06-30T00:00:00Z) or a date (2025-06-30, UTC)."];
        return null;
    }

    private static string EncodeCursor(string serial) => OpaqueCursor.Encode("u", serial);

    private static string? DecodeCursor(string? cursor, Dictionary<string, string[]> errors)
    {
        if (cursor is null) return null;
        if (OpaqueCursor.TryDecode("u", cursor, out var serial)) return serial;
        errors["cursor"] = ["Not a cursor this endpoint gave out."];
        return null;
    }
}
