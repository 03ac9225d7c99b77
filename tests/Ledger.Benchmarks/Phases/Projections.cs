using System.Diagnostics;
using System.Net.Http.Json;
using Ledger.Benchmarks.Infrastructure;
using Ledger.Benchmarks.Reporting;

namespace Ledger.Benchmarks.Phases;

/// <summary>The part of <c>GET /api/v1/projections</c> the benchmark reads.</summary>
internal sealed record ProjectionState(
    string Name, string State, string Cursor, long LagEvents, double LagSeconds, RebuildState? Rebuild, DateTimeOffset? LastRebuildFinishedAt,
    object? Failure)
{
    public bool IsInline => Cursor == "inline";
}

internal sealed record RebuildState(DateTimeOffset RequestedAt, DateTimeOffset? StartedAt, long EventsDone, long EventsTotal);

/// <summary>The lag of the asynchronous read models, sampled while a load runs.</summary>
internal sealed record LagResult(Percentiles Seconds, double IntervalMs);

/// <summary>How long rebuilding every read model took, from the service's own timestamps.</summary>
/// <remarks>Finished is false when some rebuild had not finished at the time limit: then Seconds is the limit and
/// EventsPerSecond an upper bound (the real rate is lower).</remarks>
internal sealed record RebuildResult(
    long Events, double Seconds, double EventsPerSecond, IReadOnlyDictionary<string, double> SecondsByProjection, bool Finished = true);

/// <summary>Reads and drives the read models through the operators' endpoints (auditor and admin keys).</summary>
internal sealed class Projections(ServiceProcess service, BenchmarkKeys keys) : IDisposable
{
    private readonly HttpClient _client = LedgerHttp.Create(service.BaseAddress, 2);

    public async Task<IReadOnlyList<ProjectionState>> GetAsync(CancellationToken cancellationToken)
    {
        using var request = LedgerHttp.Request(HttpMethod.Get, "/api/v1/projections", keys.Auditor);
        using var response = await _client.SendAsync(request, cancellationToken);
        response.EnsureSuccessStatusCode();
        return (await response.Content.ReadFromJsonAsync<List<ProjectionState>>(LedgerHttp.Json, cancellationToken))!;
    }

    /// <summary>Waits until every asynchronous read model has applied every event; returns how long that took.</summary>
    public async Task<double> WaitForCatchUpAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        while (true)
        {
            var states = await GetAsync(cancellationToken);
            if (states.FirstOrDefault(s => s.Failure is not null) is { } failed)
                throw new InvalidOperationException($"Projection {failed.Name} failed: {failed.Failure}");
            if (states.Where(s => !s.IsInline).All(s => s.LagEvents == 0)) return Stopwatch.GetElapsedTime(started).TotalSeconds;
            if (Stopwatch.GetElapsedTime(started) > timeout)
                throw new TimeoutException($"The read models did not catch up within {timeout}: " +
                    string.Join(", ", states.Select(s => $"{s.Name} {s.LagEvents} behind")));
            await Task.Delay(100, cancellationToken);
        }
    }

    /// <summary>
    /// Samples the lag every <paramref name="interval"/> until <paramref name="stop"/>: at each sample, the age of the
    /// oldest committed event that the slowest asynchronous read model has not applied yet (0 when all are current) —
    /// how stale a report could be at that moment, and an upper bound for every event's delay from its 201 to its read
    /// models. It is the service's own definition of lagSeconds (GET /api/v1/projections; ledger.feed_lag,
    /// event-store migration 0014), read with <see cref="Ledger.EventStore.Projections.ProjectionAdmin.CreateLagSample"/>,
    /// the daemon probe's sampler too: one indexed query on the progression rows and the position index. The endpoint
    /// also counts the events behind, which costs in proportion to the lag, and sampling it five times a second took more
    /// of the server than the load being measured.
    /// </summary>
    /// <remarks>
    /// Since issue 12 a read model's position is its shard's row in Marten's <c>mt_event_progression</c> (seq_id, the
    /// feed's order). The sample counts every committed event past it, including those the daemon cannot read yet because
    /// Marten's high-water mark has not passed them: that wait is part of how stale a read model is, as the endpoint
    /// reports it. A read model with no row yet stands at the start.
    /// </remarks>
    public static async Task<LagResult> SampleLagAsync(string connectionString, TimeSpan interval, CancellationToken stop)
    {
        var seconds = new List<double>();
        await using var connection = new Npgsql.NpgsqlConnection(connectionString);
        await connection.OpenAsync(stop);
        await using var command = Ledger.EventStore.Projections.ProjectionAdmin.CreateLagSample(
            Ledger.Api.Features.ProjectionCatalog.Create(Ledger.Production.Factories.InMemoryFactoryRegistry.Seeded).Select(p => p.Name));
        command.Connection = connection;
        using var timer = new PeriodicTimer(interval);
        try
        {
            while (await timer.WaitForNextTickAsync(stop))
            {
                seconds.Add((double)(await command.ExecuteScalarAsync(stop))!);
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            // The load ended.
        }

        return new LagResult(Percentiles.Of(seconds), interval.TotalMilliseconds);
    }

    /// <summary>
    /// Asks for a rebuild of every read model at once (POST /api/v1/projections/{name}/rebuild) and waits until each has
    /// swapped its new tables in. The time is the service's: from the earliest request to the last finish it recorded.
    /// </summary>
    public async Task<RebuildResult> RebuildAllAsync(long events, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var before = await GetAsync(cancellationToken);
        var requested = new Dictionary<string, DateTimeOffset>(StringComparer.Ordinal);
        foreach (var projection in before)
        {
            var asked = DateTimeOffset.UtcNow;
            using var request = LedgerHttp.Request(HttpMethod.Post, $"/api/v1/projections/{projection.Name}/rebuild", keys.Admin);
            using var response = await _client.SendAsync(request, cancellationToken);
            response.EnsureSuccessStatusCode();
            var accepted = (await response.Content.ReadFromJsonAsync<ProjectionState>(LedgerHttp.Json, cancellationToken))!;
            requested[projection.Name] = accepted.Rebuild?.RequestedAt ?? asked;
        }

        var finished = new Dictionary<string, DateTimeOffset>(StringComparer.Ordinal);
        var started = Stopwatch.GetTimestamp();
        while (finished.Count < requested.Count)
        {
            if (Stopwatch.GetElapsedTime(started) > timeout)
            {
                // Reported rather than thrown: a run that took this long still has every other figure to show.
                return new RebuildResult(events, timeout.TotalSeconds, events / timeout.TotalSeconds,
                    requested.ToDictionary(r => r.Key, r => finished.TryGetValue(r.Key, out var at) ? Math.Round((at - r.Value).TotalSeconds, 2) : double.NaN,
                        StringComparer.Ordinal), Finished: false);
            }

            await Task.Delay(250, cancellationToken);
            foreach (var state in await GetAsync(cancellationToken))
            {
                if (state.Failure is not null) throw new InvalidOperationException($"Rebuilding {state.Name} failed: {state.Failure}");
                if (state.Rebuild is null && state.LastRebuildFinishedAt is { } at && at >= requested[state.Name]) finished[state.Name] = at;
            }
        }

        var first = requested.Values.Min();
        var seconds = (finished.Values.Max() - first).TotalSeconds;
        return new RebuildResult(events, seconds, events / seconds,
            finished.ToDictionary(f => f.Key, f => Math.Round((f.Value - requested[f.Key]).TotalSeconds, 2), StringComparer.Ordinal));
    }

    public void Dispose() => _client.Dispose();
}
