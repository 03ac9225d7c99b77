using System.Diagnostics;
using System.Net;
using Ledger.Benchmarks.Infrastructure;
using Ledger.Benchmarks.Reporting;

namespace Ledger.Benchmarks.Phases;

/// <summary>
/// Latency of the three reporting questions at one store size, in milliseconds at the client; <see cref="Floor"/> is
/// <c>GET /health/live</c> (no key, no database) sent on the same connection just before each measured query request,
/// so it samples the same moments: what the machine, the client and ASP.NET alone cost, scheduling noise included.
/// </summary>
internal sealed record QueryResult(long StoreEvents, Percentiles UnitStatus, Percentiles FactoryThroughput, Percentiles Deployments, Percentiles Floor);

/// <summary>
/// A reporting service asking, one request at a time on one connection (pure latency, no queueing): a unit's status;
/// a factory's throughput for a year by day (issue 15, P5); deployments by region by quarter for a year.
/// </summary>
internal sealed class QueryLatency(ServiceProcess service, BenchmarkKeys keys, Action<string> log)
{
    public const string UnitStatusQuery = "GET /api/v1/units/{serial}";
    public const string ThroughputQuery = "GET /api/v1/factories/{id}/throughput?bucket=day (one year)";
    public const string DeploymentsQuery = "GET /api/v1/deployments?groupBy=region&bucket=quarter (one year)";

    public async Task<QueryResult> RunAsync(long storeEvents, IReadOnlyList<string> builtSerials, int requests, CancellationToken cancellationToken)
    {
        using var client = LedgerHttp.Create(service.BaseAddress, 1);
        var random = new Random(42);
        var year = DateTime.UtcNow.Year - 1;
        var factories = new[] { "lathrop", "shanghai" };
        // On a shared 2-core machine a p99 is mostly the neighbours' scheduling: the floor says how much of it is that.
        // Measured interleaved with the queries rather than in a burst of its own, which at 0.2 ms a request would take
        // a fraction of a second and miss most of the hiccups the queries meet.
        var floor = new List<double>(3 * requests);
        var unit = await MeasureAsync(client, requests, _ => $"/api/v1/units/{builtSerials[random.Next(builtSerials.Count)]}", floor, cancellationToken);
        var throughput = await MeasureAsync(client, requests,
            i => $"/api/v1/factories/{factories[i % 2]}/throughput?bucket=day&from={year}-01-01&to={year}-12-31", floor, cancellationToken);
        var deployments = await MeasureAsync(client, requests,
            _ => $"/api/v1/deployments?groupBy=region&bucket=quarter&from={year}-01-01&to={year}-12-31", floor, cancellationToken);
        var floorPercentiles = Percentiles.Of(floor);
        log($"  at {storeEvents:N0} events: unit p50 {unit.P50:F2} ms p99 {unit.P99:F2} ms; throughput p50 {throughput.P50:F2} p99 {throughput.P99:F2}; " +
            $"deployments p50 {deployments.P50:F2} p99 {deployments.P99:F2}; floor (/health/live) p50 {floorPercentiles.P50:F2} p99 {floorPercentiles.P99:F2}");
        return new QueryResult(storeEvents, unit, throughput, deployments, floorPercentiles);
    }

    private async Task<Percentiles> MeasureAsync(
        HttpClient client, int requests, Func<int, string> path, List<double> floor, CancellationToken cancellationToken)
    {
        var warmup = Math.Max(20, requests / 10);
        var samples = new List<double>(requests);
        for (var i = 0; i < warmup + requests; i++)
        {
            var live = await TimeAsync(client, new HttpRequestMessage(HttpMethod.Get, new Uri("/health/live", UriKind.Relative)), cancellationToken);
            var elapsed = await TimeAsync(client, LedgerHttp.Request(HttpMethod.Get, path(i), keys.Reporting), cancellationToken);
            if (i < warmup) continue;
            floor.Add(live);
            samples.Add(elapsed);
        }

        return Percentiles.Of(samples);
    }

    private static async Task<double> TimeAsync(HttpClient client, HttpRequestMessage request, CancellationToken cancellationToken)
    {
        using (request)
        {
            var started = Stopwatch.GetTimestamp();
            using var response = await client.SendAsync(request, cancellationToken);
            // The body is read in full: the latency is that of the whole answer.
            var body = await response.Content.ReadAsByteArrayAsync(cancellationToken);
            var elapsed = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            if (response.StatusCode != HttpStatusCode.OK)
                throw new InvalidOperationException($"{request.RequestUri} answered {(int)response.StatusCode}: {System.Text.Encoding.UTF8.GetString(body)}");
            return elapsed;
        }
    }
}
