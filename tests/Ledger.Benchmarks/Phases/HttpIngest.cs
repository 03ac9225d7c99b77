using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using Ledger.Benchmarks.Infrastructure;
using Ledger.Benchmarks.Reporting;
using Ledger.Benchmarks.Workload;
using Ledger.Production.Units;

namespace Ledger.Benchmarks.Phases;

/// <summary>What an ingest phase achieved: events acknowledged (201) per second, request latencies, and any refusals.</summary>
internal sealed record IngestResult(
    long Events, long Requests, double Seconds, double EventsPerSecond, Percentiles LatencyMs, long Errors, IReadOnlyList<string> ErrorSamples);

/// <summary>
/// Line systems posting to the service. There are <see cref="BenchmarkSettings.SingleConnections"/> lanes, each one
/// factory's line system with that factory's line key, posting its units' events in the order they happened; every
/// phase carries on the same lanes, so units built in one phase are tested, shipped and delivered in the next ones and
/// the store ends with a realistic mix of states (only the units in flight at the very end stay unfinished). A lane is
/// used by one connection at a time, which keeps each unit's events in order: in single-event ingest each connection
/// has one lane; in batch ingest each of the 8 connections takes its requests from 8 lanes in turn.
/// </summary>
internal sealed class HttpIngest(ServiceProcess service, BenchmarkKeys keys, MegapackHistory history, Action<string> log)
{
    private readonly ConcurrentQueue<string> _errors = new();
    private readonly Lane[] _lanes = [.. history.AssignLanes(BenchmarkSettings.SingleConnections).Select(f => new Lane(history, f))];
    private readonly ConcurrentDictionary<string, long> _mix = new(StringComparer.Ordinal);
    private long _errorCount;
    private long _acknowledged;

    /// <summary>How many events of each type the service acknowledged in the whole run.</summary>
    public IReadOnlyDictionary<string, long> EventMix => _mix.OrderBy(m => m.Key, StringComparer.Ordinal).ToDictionary(StringComparer.Ordinal);

    /// <summary>Serials whose UnitBuilt the service acknowledged: the units that the unit-status queries ask for.</summary>
    public ConcurrentBag<string> BuiltSerials { get; } = [];

    /// <summary>Every event the service has acknowledged in this run, across phases: the size of the store.</summary>
    public long Acknowledged => Interlocked.Read(ref _acknowledged);

    /// <summary>
    /// <see cref="BenchmarkSettings.BatchConnections"/> connections each posting <c>POST /api/v1/events</c> with 100 events
    /// of many units. With <paramref name="prepareBodies"/> every body is serialized before the clock starts (and before
    /// <paramref name="onStart"/>), so the figure is the service's and not the load generator's JSON writer.
    /// </summary>
    public async Task<IngestResult> BatchAsync(long events, bool prepareBodies, Func<Task>? onStart, CancellationToken cancellationToken)
    {
        const int connections = BenchmarkSettings.BatchConnections;
        const int perRequest = BenchmarkSettings.EventsPerBatchRequest;
        var owned = Enumerable.Range(0, connections).Select(k => _lanes.Where((_, j) => j % connections == k).ToArray()).ToArray();
        var budgets = Enumerable.Range(0, connections).Select(i => events / connections + (i < events % connections ? 1 : 0)).ToArray();
        Queue<Body>[]? prepared = null;
        if (prepareBodies)
        {
            prepared = [.. owned.Select((lanes, i) => new Queue<Body>(Bodies(lanes, budgets[i], perRequest)))];
        }

        using var client = LedgerHttp.Create(service.BaseAddress, connections);
        var latencies = new ConcurrentBag<double>();
        long acknowledged = 0;
        long requests = 0;
        if (onStart is not null) await onStart();
        var started = Stopwatch.GetTimestamp();
        await Task.WhenAll(owned.Select((lanes, i) => Task.Run(async () =>
        {
            using var body = prepared is null ? Bodies(lanes, budgets[i], perRequest).GetEnumerator() : null;
            while (true)
            {
                Body next;
                if (prepared is not null)
                {
                    if (!prepared[i].TryDequeue(out next!)) return;
                }
                else
                {
                    if (!body!.MoveNext()) return;
                    next = body.Current;
                }

                var sent = Stopwatch.GetTimestamp();
                using var request = LedgerHttp.Request(HttpMethod.Post, "/api/v1/events", keys.LineKeys[next.Factory], next.Json);
                using var response = await client.SendAsync(request, cancellationToken);
                latencies.Add(Stopwatch.GetElapsedTime(sent).TotalMilliseconds);
                Interlocked.Increment(ref requests);
                if (await AcknowledgedAsync(response, next.Events, cancellationToken))
                {
                    Interlocked.Add(ref acknowledged, next.Events);
                    foreach (var serial in next.Built) BuiltSerials.Add(serial);
                    foreach (var (type, count) in next.Mix) _mix.AddOrUpdate(type, count, (_, c) => c + count);
                }
            }
        }, cancellationToken)));

        var seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
        return new IngestResult(acknowledged, requests, seconds, acknowledged / seconds, Percentiles.Of(latencies.ToArray()), ErrorCount, [.. _errors]);
    }

    /// <summary>
    /// <see cref="BenchmarkSettings.SingleConnections"/> connections each posting one event per request to
    /// <c>POST /api/v1/units/{serial}/events</c>, for <paramref name="warmup"/> and then <paramref name="measured"/>; only
    /// the measured window counts, for throughput and latency alike.
    /// </summary>
    public async Task<IngestResult> SingleAsync(TimeSpan warmup, TimeSpan measured, CancellationToken cancellationToken)
    {
        const int connections = BenchmarkSettings.SingleConnections;
        using var client = LedgerHttp.Create(service.BaseAddress, connections);
        var latencies = new ConcurrentBag<double>();
        long inWindow = 0;
        long requests = 0;
        var origin = Stopwatch.GetTimestamp();
        var windowStart = origin + (long)(warmup.TotalSeconds * Stopwatch.Frequency);
        var windowEnd = windowStart + (long)(measured.TotalSeconds * Stopwatch.Frequency);
        await Task.WhenAll(_lanes.Select(lane => Task.Run(async () =>
        {
            while (Stopwatch.GetTimestamp() < windowEnd)
            {
                var e = lane.Next();
                var sent = Stopwatch.GetTimestamp();
                using var request = LedgerHttp.Request(HttpMethod.Post, $"/api/v1/units/{e.Serial}/events", keys.LineKeys[lane.Factory.Id], EventJson.Single(e));
                using var response = await client.SendAsync(request, cancellationToken);
                var done = Stopwatch.GetTimestamp();
                var ok = await AcknowledgedAsync(response, 1, cancellationToken);
                if (ok && e.Event is UnitBuilt) BuiltSerials.Add(e.Serial);
                if (ok) _mix.AddOrUpdate(UnitEvents.Of(e.Event).ApiName, 1, (_, c) => c + 1);
                if (sent >= windowStart && done <= windowEnd)
                {
                    latencies.Add(Stopwatch.GetElapsedTime(sent, done).TotalMilliseconds);
                    Interlocked.Increment(ref requests);
                    if (ok) Interlocked.Increment(ref inWindow);
                }
            }
        }, cancellationToken)));

        return new IngestResult(inWindow, requests, measured.TotalSeconds, inWindow / measured.TotalSeconds, Percentiles.Of(latencies.ToArray()),
            ErrorCount, [.. _errors]);
    }

    public long ErrorCount => Interlocked.Read(ref _errorCount);

    private async Task<bool> AcknowledgedAsync(HttpResponseMessage response, int events, CancellationToken cancellationToken)
    {
        if (response.StatusCode == HttpStatusCode.Created)
        {
            // Every phase adds to the store's size, which decides when the queries run at 10k and at 1M events.
            Interlocked.Add(ref _acknowledged, events);
            return true;
        }

        var count = Interlocked.Increment(ref _errorCount);
        if (count <= 5)
        {
            var body = await response.Content.ReadAsStringAsync(cancellationToken);
            _errors.Enqueue($"{(int)response.StatusCode} {body[..Math.Min(body.Length, 400)]}");
            log($"  refused: {(int)response.StatusCode} {body[..Math.Min(body.Length, 400)]}");
        }

        return false;
    }

    /// <summary>The requests of one connection: 100 events at a time from each of its lanes in turn (one factory per request).</summary>
    private static IEnumerable<Body> Bodies(Lane[] lanes, long events, int perRequest)
    {
        var turn = 0;
        for (long sent = 0; sent < events; sent += perRequest)
        {
            var lane = lanes[turn++ % lanes.Length];
            var chunk = lane.Take((int)Math.Min(perRequest, events - sent));
            yield return new Body(EventJson.Batch(chunk), chunk.Count, lane.Factory.Id,
                [.. chunk.Where(e => e.Event is UnitBuilt).Select(e => e.Serial)],
                [.. chunk.GroupBy(e => UnitEvents.Of(e.Event).ApiName).Select(g => (g.Key, (long)g.Count()))]);
        }
    }

    private sealed record Body(byte[] Json, int Events, string Factory, string[] Built, (string Type, long Count)[] Mix);
}
