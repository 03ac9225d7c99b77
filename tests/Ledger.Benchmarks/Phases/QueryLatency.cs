using System.Diagnostics;
using System.Net;
using Ledger.Benchmarks.Infrastructure;
using Ledger.Benchmarks.Reporting;

namespace Ledger.Benchmarks.Phases;

/// <summary>
/// Latency of the three reporting questions at one store size, in milliseconds at the client; <see cref="Floor"/> is
/// <c>GET /health/live</c> (no key, no database) measured the same way in the same round: what the machine, the client
/// and ASP.NET alone cost, scheduling noise included.
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
        var floor = await MeasureAsync(client, requests, _ => "/health/live", cancellationToken, anonymous: true);
        var unit = await MeasureAsync(client, requests, _ => $"/api/v1/units/{builtSerials[random.Next(builtSerials.Count)]}", cancellationToken);
        var throughput = await MeasureAsync(client, requests,
            i => $"/api/v1/factories/{factories[i % 2]}/throughput?bucket=day&from={year}-01-01&to={year}-12-31", cancellationToken);
        var deployments = await MeasureAsync(client, requests,
            _ => $"/api/v1/deployments?groupBy=region&bucket=quarter&from={year}-01-01&to={year}-12-31", cancellationToken);
        log($"  at {storeEvents:N0} events: unit p50 {unit.P50:F2} ms p99 {unit.P99:F2} ms; throughput p50 {throughput.P50:F2} p99 {throughput.P99:F2}; " +
            $"deployments p50 {deployments.P50:F2} p99 {deployments.P99:F2}; floor (/health/live) p50 {floor.P50:F2} p99 {floor.P99:F2}");
        return new QueryResult(storeEvents, unit, throughput, deployments, floor);
    }

    private async Task<Percentiles> MeasureAsync(
        HttpClient client, int requests, Func<int, string> path, CancellationToken cancellationToken, bool anonymous = false)
    {
        var warmup = Math.Max(20, requests / 10);
        var samples = new List<double>(requests);
        for (var i = 0; i < warmup + requests; i++)
        {
            var target = path(i);
            var started = Stopwatch.GetTimestamp();
            using var request = anonymous
                ? new HttpRequestMessage(HttpMethod.Get, new Uri(target, UriKind.Relative))
                : LedgerHttp.Request(HttpMethod.Get, target, keys.Reporting);
            using var response = await client.SendAsync(request, cancellationToken);
            // The body is read in full: the latency is that of the whole answer.
            var body = await response.Content.ReadAsByteArrayAsync(cancellationToken);
            var elapsed = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            if (response.StatusCode != HttpStatusCode.OK)
                throw new InvalidOperationException($"{target} answered {(int)response.StatusCode}: {System.Text.Encoding.UTF8.GetString(body)}");
            if (i >= warmup) samples.Add(elapsed);
        }

        return Percentiles.Of(samples);
    }
}
