using System.Collections.Concurrent;
using System.Diagnostics;
using Ledger.EventStore;
using Ledger.EventStore.Projections;
using Ledger.Production.Units;
using Ledger.ReadModels.Tests.Support;
using Marten;
using Microsoft.Extensions.Logging;
using Npgsql;

/// <summary>
/// Where a single event's delay between its recording and its read models goes (issue 15, P4), under single-event load
/// through the store's own write path (the group commit the service's single-event endpoint uses). Writers append one
/// event per call at a fixed rate; a sampler reads <c>mt_event_progression</c> (the high-water mark and each shard) every
/// ~10 ms; afterwards each event's timeline is rebuilt from its <c>mt_events.timestamp</c> (the recorded-at the store set
/// before its transaction), the moment its append returned (the commit acknowledged), and the first samples in which the
/// high-water mark and each shard had passed it. Marten's daemon logs at Information and above are counted by message
/// template: how often the high-water agent found the mark stale, held before a gap or skipped one.
/// </summary>
internal static class LagSplit
{
    private sealed record Sample(long At, long HighWater, long[] Shards);

    public static async Task RunAsync(
        NpgsqlDataSource dataSource, IReadOnlyList<IProjection> models, TimeSpan duration, int rate, int connections, Func<string> load)
    {
        Console.WriteLine();
        var shardNames = models.Select(m => MartenSetup.ShardName(m.Name)).ToArray();
        var logs = new CountingLoggers();
        var options = new EventStoreOptions { EventTypes = UnitEvents.StoredNamesByType, NodeId = "probe", RunsRebuilds = false, LoggerFactory = logs };
        var counters = models.Select(m => new Counting(m, declared: true)).ToList();
        foreach (var counter in counters) options.AsyncProjections.Add(counter);
        // Marten hands its daemon the store's internal LogFactory only (AddMarten sets it from the container); a probe
        // without a container sets it by reflection to count the high-water agent's messages.
        await using var marten = DocumentStore.For(o =>
        {
            EventStore.ConfigureMarten(o, dataSource, options);
            typeof(StoreOptions).GetProperty("LogFactory", System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.NonPublic)!
                .SetValue(o, logs);
        });
        await using var store = new EventStore(dataSource, options, marten);
        await store.StartProjectionsAsync();

        var before = await ScalarAsync<long>(dataSource, "select coalesce(max(seq_id), 0) from ledger.mt_events");
        await WaitAtHeadAsync(dataSource, shardNames, before);
        logs.Clear();
        var handedBefore = counters.ToDictionary(c => c.Name, c => (c.Handed, c.Batches));

        var units = History.Generate(seed: 13, lathropUnits: 30_000, shanghaiUnits: 20_000)
            .Select((u, i) => new UnitHistory($"SPLIT-{DateTime.UtcNow:HHmmss}-{i:D6}", u.Events)).ToArray();
        var nextUnit = -1;
        var ticket = -1L;
        var acks = new ConcurrentDictionary<long, long>();
        var refused = 0L;

        // Stopwatch time and the database's clock (same host) tied at one instant: recorded_at maps onto the probe's timeline.
        var originUtc = DateTimeOffset.UtcNow;
        var origin = Stopwatch.GetTimestamp();
        var samples = new List<Sample>();
        using var stopSampling = new CancellationTokenSource();
        var sampler = Task.Run(() => SampleAsync(dataSource, shardNames, samples, stopSampling.Token));
        var loadAtStart = load();
        var cpu = Process.GetCurrentProcess().TotalProcessorTime;
        var start = Stopwatch.GetTimestamp() + Stopwatch.Frequency / 5;
        var end = start + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        var writers = Enumerable.Range(0, connections).Select(_ => Task.Run(async () =>
        {
            var unit = units[Interlocked.Increment(ref nextUnit) % units.Length];
            var index = 0;
            while (true)
            {
                // One global schedule: event k is due at start + k / rate, whichever writer is free takes it.
                var due = start + Interlocked.Increment(ref ticket) * Stopwatch.Frequency / rate;
                if (due >= end) break;
                var wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), due);
                if (wait > TimeSpan.Zero) await Task.Delay(wait);
                if (index == unit.Events.Count)
                {
                    unit = units[Interlocked.Increment(ref nextUnit) % units.Length];
                    index = 0;
                }

                try
                {
                    var result = await store.AppendToStreamAsync(unit.Serial, ExpectedVersion.Any, [History.ToEventData(unit.Events[index++])]);
                    var acked = Stopwatch.GetTimestamp();
                    foreach (var e in result.Events) acks[e.Position] = acked;
                }
                catch (Exception e) when (e is not OutOfMemoryException)
                {
                    Interlocked.Increment(ref refused);
                }
            }
        })).ToArray();
        await Task.WhenAll(writers);
        var writing = Stopwatch.GetElapsedTime(start).TotalSeconds;
        var cpuSeconds = (Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalSeconds;
        var loadAtEnd = load();
        var head = await ScalarAsync<long>(dataSource, "select coalesce(max(seq_id), 0) from ledger.mt_events");
        await WaitAtHeadAsync(dataSource, shardNames, head);
        await Task.Delay(200);
        await stopSampling.CancelAsync();
        await sampler;

        // The feed of the run: positions drawn by the run's appends, with their recorded-at on the probe's timeline.
        var recorded = new SortedDictionary<long, long>();
        await using (var command = dataSource.CreateCommand("select seq_id, timestamp from ledger.mt_events where seq_id > @before and seq_id <= @head order by seq_id"))
        {
            command.Parameters.AddWithValue("before", before);
            command.Parameters.AddWithValue("head", head);
            await using var reader = await command.ExecuteReaderAsync();
            while (await reader.ReadAsync())
            {
                var at = reader.GetFieldValue<DateTimeOffset>(1);
                recorded[reader.GetInt64(0)] = origin + (long)((at - originUtc).TotalSeconds * Stopwatch.Frequency);
            }
        }

        var holes = head - before - recorded.Count;
        Console.WriteLine($"Split, {DateTime.UtcNow:HH:mm} UTC: {recorded.Count:N0} single-event appends from {connections} writers in {writing:F1} s " +
                          $"({recorded.Count / writing:N0}/s, asked {rate:N0}/s), {refused} refused; positions {before + 1:N0}-{head:N0}, " +
                          $"{holes} never committed (holes); {samples.Count:N0} samples of mt_event_progression " +
                          $"(every {Stopwatch.GetElapsedTime(samples[0].At, samples[^1].At).TotalMilliseconds / Math.Max(1, samples.Count - 1):F1} ms); " +
                          $"probe CPU {cpuSeconds:F1} s; load {loadAtStart} at the start, {loadAtEnd} at the end");

        // The first sample at or after which a mark had passed a position (marks never move back).
        long FirstPassing(Func<Sample, long> mark, long position)
        {
            int lo = 0, hi = samples.Count - 1;
            if (mark(samples[hi]) < position) return long.MaxValue;
            while (lo < hi)
            {
                var mid = (lo + hi) / 2;
                if (mark(samples[mid]) >= position) hi = mid;
                else lo = mid + 1;
            }

            return samples[lo].At;
        }

        var stages = new Dictionary<string, List<double>>(StringComparer.Ordinal);
        void Add(string stage, long from, long to) =>
            (stages.TryGetValue(stage, out var list) ? list : stages[stage] = []).Add(Stopwatch.GetElapsedTime(from, to).TotalMilliseconds);

        var prefixCommitted = long.MinValue;
        foreach (var (position, at) in recorded)
        {
            // Not acknowledged: appended by something else, or its caller gave up; the feed still holds it.
            if (!acks.TryGetValue(position, out var acked)) continue;
            prefixCommitted = Math.Max(prefixCommitted, acked);
            var highWater = FirstPassing(s => s.HighWater, position);
            var shards = Enumerable.Range(0, shardNames.Length).Select(i => FirstPassing(s => s.Shards[i], position)).ToArray();
            if (highWater == long.MaxValue || shards.Any(s => s == long.MaxValue)) continue;
            Add("1 recorded-at -> append returned (group commit: queue, transaction, commit)", at, acked);
            Add("2a append returned -> every earlier position committed (waits on others' open transactions)", acked, Math.Max(acked, prefixCommitted));
            Add("2b ... -> high-water mark past it (the agent's cadence)", Math.Max(acked, prefixCommitted), Math.Max(highWater, Math.Max(acked, prefixCommitted)));
            Add("2  append returned -> high-water mark past it", acked, highWater);
            for (var i = 0; i < shardNames.Length; i++) Add($"3  high-water mark -> {shardNames[i]} past it", highWater, shards[i]);
            Add("3  high-water mark -> the slowest shard past it", highWater, shards.Max());
            Add("3x first shard -> last shard past it (do they wait for one another)", shards.Min(), shards.Max());
            Add("=  recorded-at -> the slowest shard past it", at, shards.Max());
        }

        Console.WriteLine($"  per event, ms (sampling resolution ~{Stopwatch.GetElapsedTime(samples[0].At, samples[^1].At).TotalMilliseconds / Math.Max(1, samples.Count - 1):F0} ms): p50 / p90 / p99 / mean");
        foreach (var (stage, values) in stages.OrderBy(s => s.Key, StringComparer.Ordinal))
        {
            Console.WriteLine($"    {stage,-100} {Percentile(values, 0.5),7:F1} {Percentile(values, 0.9),7:F1} {Percentile(values, 0.99),7:F1} {values.Average(),7:F1}");
        }

        // Each mark's steps: how often it moved and how far.
        void Steps(string name, Func<Sample, long> mark)
        {
            var moves = new List<(long At, long Events)>();
            for (var i = 1; i < samples.Count; i++)
            {
                var step = mark(samples[i]) - mark(samples[i - 1]);
                if (step > 0 && mark(samples[i - 1]) >= before) moves.Add((samples[i].At, step));
            }

            var gaps = moves.Zip(moves.Skip(1), (a, b) => Stopwatch.GetElapsedTime(a.At, b.At).TotalMilliseconds).ToList();
            if (gaps.Count == 0) return;
            Console.WriteLine($"    {name,-22} {moves.Count,5:N0} moves seen; ms between moves p50 {Percentile(gaps, 0.5):F0}, p90 {Percentile(gaps, 0.9):F0}, " +
                              $"max {gaps.Max():F0}; positions per move p50 {Percentile(moves.Select(m => (double)m.Events).ToList(), 0.5):F0}, " +
                              $"mean {moves.Average(m => m.Events):F1}; stalls over 250 ms {gaps.Count(g => g > 250)}, over 500 ms {gaps.Count(g => g > 500)}");
        }

        Console.WriteLine("  marks (moves within one ~10 ms sample count once):");
        Steps("HighWaterMark", s => s.HighWater);
        for (var i = 0; i < shardNames.Length; i++)
        {
            var index = i;
            Steps(shardNames[i], s => s.Shards[index]);
        }

        foreach (var counter in counters)
        {
            var (handed, batches) = handedBefore[counter.Name];
            Console.WriteLine($"    {counter.Name,-22} handed {counter.Handed - handed,7:N0} events in {counter.Batches - batches,5:N0} batches " +
                              $"({(double)(counter.Handed - handed) / Math.Max(1, counter.Batches - batches):F1} per batch)");
        }

        // Figure 4's definition on the same samples: the age of the oldest recorded event the slowest shard had not passed.
        var lags = new List<double>();
        var positions = recorded.Keys.ToArray();
        foreach (var sample in samples.Where(s => s.At >= start && s.At <= end))
        {
            var slowest = sample.Shards.Min();
            var next = Array.BinarySearch(positions, slowest + 1);
            if (next < 0) next = ~next;
            lags.Add(next < positions.Length && recorded[positions[next]] < sample.At
                ? Stopwatch.GetElapsedTime(recorded[positions[next]], sample.At).TotalMilliseconds
                : 0);
        }

        Console.WriteLine($"  figure 4's lag on these samples (age of the oldest event the slowest shard has not passed): " +
                          $"p50 {Percentile(lags, 0.5):F0} ms, p90 {Percentile(lags, 0.9):F0} ms, p99 {Percentile(lags, 0.99):F0} ms ({lags.Count:N0} samples)");
        Console.WriteLine("  Marten's daemon messages (Information and above) by template:");
        foreach (var (template, count) in logs.Counts.OrderByDescending(c => c.Value).Take(12))
        {
            Console.WriteLine($"    {count,6:N0}  {template}");
        }
    }

    private static async Task SampleAsync(NpgsqlDataSource dataSource, string[] shardNames, List<Sample> samples, CancellationToken stop)
    {
        await using var connection = await dataSource.OpenConnectionAsync(CancellationToken.None);
        await using var command = new NpgsqlCommand("select name, last_seq_id from ledger.mt_event_progression where name = any(@names)", connection);
        command.Parameters.AddWithValue("names", shardNames.Append("HighWaterMark").ToArray());
        await command.PrepareAsync(CancellationToken.None);
        while (!stop.IsCancellationRequested)
        {
            // The snapshot is taken when the statement starts: the sample's time is its start.
            var at = Stopwatch.GetTimestamp();
            long highWater = 0;
            var shards = new long[shardNames.Length];
            await using (var reader = await command.ExecuteReaderAsync(CancellationToken.None))
            {
                while (await reader.ReadAsync(CancellationToken.None))
                {
                    var name = reader.GetString(0);
                    if (name == "HighWaterMark") highWater = reader.GetInt64(1);
                    else shards[Array.IndexOf(shardNames, name)] = reader.GetInt64(1);
                }
            }

            samples.Add(new Sample(at, highWater, shards));
            try
            {
                await Task.Delay(10, stop);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
    }

    private static async Task WaitAtHeadAsync(NpgsqlDataSource dataSource, string[] shards, long position)
    {
        await using var command = dataSource.CreateCommand("select count(*) from ledger.mt_event_progression where name = any(@shards) and last_seq_id >= @position");
        command.Parameters.AddWithValue("shards", shards);
        command.Parameters.AddWithValue("position", position);
        var waited = Stopwatch.StartNew();
        while ((long)(await command.ExecuteScalarAsync())! < shards.Length)
        {
            if (waited.Elapsed > TimeSpan.FromMinutes(15)) throw new TimeoutException("The read models did not reach the head in 15 minutes.");
            await Task.Delay(20);
        }
    }

    private static async Task<T> ScalarAsync<T>(NpgsqlDataSource dataSource, string sql)
    {
        await using var command = dataSource.CreateCommand(sql);
        return (T)(await command.ExecuteScalarAsync())!;
    }

    private static double Percentile(List<double> values, double p)
    {
        if (values.Count == 0) return double.NaN;
        var sorted = values.Order().ToArray();
        return sorted[Math.Min(sorted.Length - 1, Math.Max(0, (int)Math.Ceiling(p * sorted.Length) - 1))];
    }

    /// <summary>Counts log messages at Information and above by their template.</summary>
    private sealed class CountingLoggers : ILoggerFactory, ILogger
    {
        public ConcurrentDictionary<string, long> Counts { get; } = new(StringComparer.Ordinal);

        public void Clear() => Counts.Clear();

        public ILogger CreateLogger(string categoryName) => this;

        public void AddProvider(ILoggerProvider provider)
        {
        }

        public void Dispose()
        {
        }

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!IsEnabled(logLevel)) return;
            var template = state is IReadOnlyList<KeyValuePair<string, object?>> values
                ? values.FirstOrDefault(v => v.Key == "{OriginalFormat}").Value as string
                : null;
            Counts.AddOrUpdate($"{logLevel}: {template ?? formatter(state, exception)}", 1, (_, n) => n + 1);
        }
    }
}
