using Ledger.Api.Access;
using Ledger.Api.Http;
using Ledger.Api.ServiceDefaults.OpenApi;
using Ledger.EventStore;
using Ledger.EventStore.Projections;
using Ledger.Production.Geography;
using Ledger.ReadModels;
using Npgsql;

namespace Ledger.Api.Features.Reporting;

/// <summary>Where the energy went: per bucket, and what is in transit now.</summary>
public sealed record DeploymentsResponse(
    string GroupBy, string Bucket, DateOnly From, DateOnly To, string? Region, IReadOnlyList<DeploymentRow> Buckets, IReadOnlyList<InTransitRow> InTransit);

/// <summary><c>GET /api/v1/deployments</c>: units and MWh shipped, delivered and commissioned by region, country or site.</summary>
public static class DeploymentsEndpoints
{
    private static readonly string[] Buckets = ["month", "quarter", "year"];

    public static RouteGroupBuilder MapDeployments(this RouteGroupBuilder api)
    {
        ArgumentNullException.ThrowIfNull(api);
        api.MapGet("/deployments", GetAsync)
            .WithName("GetDeployments")
            .WithSummary("Units and MWh shipped, delivered and commissioned per region, country or site and month, quarter or year; and in transit now.")
            .WithDescription("""
                Each figure counts at the shipment's destination on its own UTC day, net of cancelled shipments. `inTransit`
                is now, not per bucket. From an asynchronous read model: `X-Ledger-Position` says what it reflects,
                `minPosition` waits for your write.
                """)
            .WithParameter("groupBy", "region (default), country or site.")
            .WithParameter("bucket", "month, quarter (default) or year.")
            .WithParameter("from", "First UTC date (yyyy-MM-dd, inclusive).")
            .WithParameter("to", "Last UTC date (yyyy-MM-dd, inclusive).")
            .WithParameter("region", "Only this market region (Europe, Australia, North America, China, ...).")
            .WithParameter("minPosition", ReportingExamples.MinPosition)
            .WithResponseExample(StatusCodes.Status200OK, ReportingExamples.Deployments)
            .Produces<DeploymentsResponse>()
            .ProducesValidationProblem()
            .RequireRole(LedgerRole.Reporting);
        return api;
    }

    private static async Task<IResult> GetAsync(
        string? groupBy, string? bucket, string? from, string? to, string? region, string? minPosition, HttpContext context,
        NpgsqlDataSource dataSource, Freshness freshness, TimeProvider time, CancellationToken cancellationToken)
    {
        var errors = new Dictionary<string, string[]>(StringComparer.Ordinal);
        DeploymentGrouping? grouping = groupBy switch
        {
            null or "region" => DeploymentGrouping.Region,
            "country" => DeploymentGrouping.Country,
            "site" => DeploymentGrouping.Site,
            _ => null,
        };
        if (grouping is null) errors["groupBy"] = ["Must be one of region, country, site."];
        var today = DateOnly.FromDateTime(time.GetUtcNow().UtcDateTime);
        var b = ReportingParameters.Bucket(bucket, "bucket", Buckets, errors, CalendarBucket.Quarter);
        var f = ReportingParameters.Date(from, "from", errors, new DateOnly(today.Year - 2, 1, 1));
        var t = ReportingParameters.Date(to, "to", errors, today);
        ReportingParameters.Range(f, t, errors);
        if (region is not null && !MarketRegions.All.Contains(region)) errors["region"] = [$"Must be one of {string.Join(", ", MarketRegions.All)}."];
        var (min, minError) = Freshness.Parse(minPosition);
        if (minError is not null) errors["minPosition"] = [minError];
        if (errors.Count > 0) return LedgerResponse.Validation(context, errors, "Fix the query parameters named in errors.");

        // The status, the buckets and what is in transit in one round trip instead of three, the status first so that the
        // rows reflect at least its position (issue 15, P5: each round trip was a chance to wait for a core).
        var reached = await freshness.WaitAsync(DeploymentsProjection.ProjectionName, min, cancellationToken);
        var batch = new PreparedBatch();
        var status = ProjectionAdmin.AddStatusRead(batch, DeploymentsProjection.ProjectionName);
        var (rows, inTransit) = DeploymentsQuery.AddTo(batch, grouping!.Value, b!.Value, f!.Value, t!.Value, region);
        await batch.ExecuteAsync(dataSource, cancellationToken);
        Freshness.Describe(context, status.Rows.SingleOrDefault(), reached);
        return TypedResults.Ok(new DeploymentsResponse(groupBy ?? "region", bucket ?? "quarter", f.Value, t.Value, region, rows.Rows, inTransit.Rows));
    }
}
