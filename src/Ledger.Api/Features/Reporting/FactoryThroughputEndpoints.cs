using Ledger.Api.Access;
using Ledger.Api.Http;
using Ledger.Api.ServiceDefaults;
using Ledger.Api.ServiceDefaults.OpenApi;
using Ledger.EventStore;
using Ledger.EventStore.Projections;
using Ledger.Production.Factories;
using Ledger.ReadModels;
using Npgsql;

namespace Ledger.Api.Features.Reporting;

/// <summary>A factory's throughput per bucket.</summary>
public sealed record FactoryThroughputResponse(string FactoryId, string Bucket, DateOnly From, DateOnly To, int? NameplateUnitsPerYear, IReadOnlyList<FactoryThroughputRow> Buckets);

/// <summary>A factory's milestones.</summary>
public sealed record MilestonesResponse(string FactoryId, IReadOnlyList<UnitMilestone> Units, IReadOnlyList<FirstShipmentMilestone> FirstShipmentsByRegion);

/// <summary><c>GET /api/v1/factories/{id}/throughput</c> and <c>/milestones</c>: how a factory ramps.</summary>
public static class FactoryThroughputEndpoints
{
    private static readonly string[] Buckets = ["day", "week", "month", "quarter", "year"];

    public static RouteGroupBuilder MapFactoryReports(this RouteGroupBuilder api)
    {
        ArgumentNullException.ThrowIfNull(api);
        api.MapGet("/factories/{id}/throughput", ThroughputAsync)
            .WithName("GetFactoryThroughput")
            .WithSummary("Units built, tested and shipped, MWh, first-pass yield, cumulative units, run rate and utilization per bucket.")
            .WithDescription("""
                Per local day of the factory (its time zone), rolled up by bucket; every bucket overlapping the range is
                answered, empty ones included. The run rate is the units built in the 30 local days ending on the bucket's
                last day × 365/30; utilization is the run rate over nameplate. From an asynchronous read model:
                `X-Ledger-Position` says what it reflects, `minPosition` waits for your write.
                """)
            .WithParameter("id", "The factory id (lathrop, shanghai, waller).")
            .WithParameter("from", "First local date (yyyy-MM-dd, inclusive); default: production start.")
            .WithParameter("to", "Last local date (yyyy-MM-dd, inclusive); default: today.")
            .WithParameter("bucket", "day, week (ISO, Monday), month, quarter or year; default week.")
            .WithParameter("minPosition", ReportingExamples.MinPosition)
            .WithResponseExample(StatusCodes.Status200OK, ReportingExamples.Throughput)
            .Produces<FactoryThroughputResponse>()
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status404NotFound)
            .RequireRole(LedgerRole.Reporting);
        api.MapGet("/factories/{id}/milestones", MilestonesAsync)
            .WithName("GetFactoryMilestones")
            .WithSummary("The factory's first unit and every 1,000th, and its first shipment to each region.")
            .WithDescription("""
                Units ranked by when they were built (history recorded late still names the right unit); the first
                shipment to each market region that was not cancelled. Dates are the factory's local dates.
                """)
            .WithParameter("id", "The factory id (lathrop, shanghai, waller).")
            .WithParameter("minPosition", ReportingExamples.MinPosition)
            .WithResponseExample(StatusCodes.Status200OK, ReportingExamples.Milestones)
            .Produces<MilestonesResponse>()
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status404NotFound)
            .RequireRole(LedgerRole.Reporting);
        return api;
    }

    private static async Task<IResult> ThroughputAsync(
        string id, string? from, string? to, string? bucket, string? minPosition, HttpContext context, IFactoryRegistry factories,
        NpgsqlDataSource dataSource, Freshness freshness, TimeProvider time, CancellationToken cancellationToken)
    {
        if (!factories.TryFind(id, out var factory)) return UnknownFactory(context, id);
        var errors = new Dictionary<string, string[]>(StringComparer.Ordinal);
        var today = DateOnly.FromDateTime(time.GetUtcNow().UtcDateTime);
        var b = ReportingParameters.Bucket(bucket, "bucket", Buckets, errors, CalendarBucket.IsoWeek);
        var f = ReportingParameters.Date(from, "from", errors, factory.ProductionStarted ?? today.AddYears(-1));
        var t = ReportingParameters.Date(to, "to", errors, today);
        ReportingParameters.Range(f, t, errors);
        var (min, minError) = Freshness.Parse(minPosition);
        if (minError is not null) errors["minPosition"] = [minError];
        if (errors.Count > 0) return LedgerResponse.Validation(context, errors, "Fix the query parameters named in errors.");

        // The status and the rows in one round trip, the status first so that the rows reflect at least its position
        // (issue 15, P5: each round trip was a chance to wait for a core).
        var reached = await freshness.WaitAsync(FactoryThroughputProjection.ProjectionName, min, cancellationToken);
        var batch = new PreparedBatch();
        var status = ProjectionAdmin.AddStatusRead(batch, FactoryThroughputProjection.ProjectionName);
        var rows = FactoryThroughputQuery.AddTo(batch, factory, f!.Value, t!.Value, b!.Value);
        await batch.ExecuteAsync(dataSource, cancellationToken);
        Freshness.Describe(context, status.Rows.SingleOrDefault(), reached);
        return TypedResults.Ok(new FactoryThroughputResponse(factory.Id, bucket ?? "week", f.Value, t.Value, factory.NameplateUnitsPerYear, rows.Rows));
    }

    private static async Task<IResult> MilestonesAsync(
        string id, string? minPosition, HttpContext context, IFactoryRegistry factories, NpgsqlDataSource dataSource,
        Freshness freshness, CancellationToken cancellationToken)
    {
        if (!factories.TryFind(id, out var factory)) return UnknownFactory(context, id);
        var (min, minError) = Freshness.Parse(minPosition);
        if (minError is not null) return LedgerResponse.Validation(context, new Dictionary<string, string[]> { ["minPosition"] = [minError] }, "Fix minPosition.");

        await freshness.ApplyAsync(context, MilestonesProjection.ProjectionName, min, cancellationToken);
        var units = await MilestonesQuery.GetUnitMilestonesAsync(dataSource, factory.Id, cancellationToken);
        var shipments = await MilestonesQuery.GetFirstShipmentsAsync(dataSource, factory.Id, cancellationToken);
        return TypedResults.Ok(new MilestonesResponse(factory.Id, units, shipments));
    }

    private static LedgerResponse UnknownFactory(HttpContext context, string id) =>
        LedgerResponse.Problem(context, StatusCodes.Status404NotFound, ProblemTypes.NotFound, "No such factory.",
            $"There is no factory '{id}'; GET /api/v1/factories lists them.");
}
