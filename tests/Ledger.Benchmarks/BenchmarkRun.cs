using System.Diagnostics;
using System.Runtime.InteropServices;
using Ledger.Benchmarks.Infrastructure;
using Ledger.Benchmarks.Phases;
using Ledger.Benchmarks.Reporting;
using Ledger.Benchmarks.Workload;
using Npgsql;

namespace Ledger.Benchmarks;

/// <summary>
/// One benchmark run, in this order: the raw PostgreSQL baselines and the bare-Marten baselines (before the service
/// exists, so nothing competes with them); the service started; the store filled to 10k events and the queries timed; filled further by batch ingest;
/// the measured batch ingest, which brings it to the large size (1M in full mode); single-event ingest with the
/// projection lag sampled; the service's peak memory during the two ingests read; the integration events' journal waited
/// for; the queries timed again; every read model rebuilt; the service's memory read; the service stopped and started
/// again a few times on the filled store, each start timed to ready.
/// </summary>
internal sealed class BenchmarkRun(
    BenchmarkSettings settings, string outputDirectory, bool profile, IReadOnlyList<string> serviceEnvironment, bool rebuildOnly = false,
    bool ingestOnly = false)
{
    private const string LedgerDatabase = "ledger";
    private static readonly TimeSpan CatchUpTimeout = TimeSpan.FromMinutes(15);

    private readonly Stopwatch _clock = new();
    private readonly Dictionary<string, PhaseCpu> _cpu = new(StringComparer.Ordinal);

    public async Task<int> RunAsync(CancellationToken cancellationToken)
    {
        _clock.Start();
        var startedAt = DateTimeOffset.UtcNow;
        var loadAtStart = ProcStats.LoadAverage();
        var runDirectory = Path.Combine(outputDirectory, $"{startedAt:yyyyMMdd-HHmmss}-{settings.Mode}");
        Directory.CreateDirectory(runDirectory);
        Log($"{settings.Mode} mode; results and the service's log go to {runDirectory}");
        Log(BenchmarkReport.SameMachineNote);
        Log($"load average at start: {loadAtStart}");

        await using var cluster = await BenchmarkCluster.StartAsync(profile, cancellationToken);
        Log($"PostgreSQL started on port {cluster.Cluster.Port} in {cluster.Directory}");
        var raw = new RawBaselines(cluster, settings, Log);
        // The baselines are for the table; the runs that iterate on one part of the service skip them.
        var baselines = !rebuildOnly && !ingestOnly;
        var rawResults = baselines ? await raw.RunAsync(cancellationToken) : null!;
        var notes = new List<string>();
        // Bare Marten also runs before the service exists, on the same cluster, each variant in its own database.
        var martenResults = !baselines
            ? null!
            : await new MartenBaselines(cluster, settings, Log, profile ? runDirectory : null).RunAsync(rawResults.Insert100RowsPerSecond, cancellationToken);
        foreach (var problem in baselines ? martenResults.Checks : [])
        {
            notes.Add(problem);
            Log("WARNING: " + problem);
        }

        await cluster.CreateDatabaseAsync(LedgerDatabase, cancellationToken);
        var ledgerConnection = cluster.ConnectionString(LedgerDatabase);
        var environment = serviceEnvironment.Select(v => v.Split('=', 2)).ToDictionary(v => v[0], v => v.Length > 1 ? v[1] : "", StringComparer.Ordinal);
        if (environment.Count > 0) notes.Add($"The service ran with {string.Join(", ", serviceEnvironment)} (an experiment, not the default).");
        await using var service = await ServiceProcess.StartAsync(ledgerConnection, runDirectory, environment, cancellationToken);
        Log($"service started: pid {service.Pid}, {service.BaseAddress}");
        foreach (var difference in !baselines ? [] : await raw.CompareWithLedgerAsync(ledgerConnection, cancellationToken))
        {
            notes.Add($"The raw table differs from ledger.mt_events: {difference}.");
            Log("WARNING: " + notes[^1]);
        }

        var statements = profile ? await StatementProfile.EnableAsync(ledgerConnection, runDirectory, cancellationToken) : null;
        var keys = await BenchmarkKeys.CreateAsync(ledgerConnection, service.AdminKey, ["lathrop", "shanghai"], cancellationToken);
        // Room for the large size, for what single-event ingest may post in its time (25k events/s would be a fast machine),
        // and for the units still in flight at the end. Not much more: the denser the plan, the longer the lanes take to
        // reach their steady mix.
        var planned = settings.LargeEvents + 25_000L * (settings.SingleSeconds + settings.WarmupSeconds);
        var history = new MegapackHistory(planned * 5 / 4, startedAt);
        var ingest = new HttpIngest(service, keys, history, Log);
        using var projections = new Projections(service, keys);
        var queries = new QueryLatency(service, keys, Log);
        var postgresPid = cluster.PostmasterPid;
        if (rebuildOnly) return await RebuildOnlyAsync();
        if (ingestOnly) return await IngestOnlyAsync();

        Log($"filling the store to {settings.SmallEvents:N0} events (batch ingest)");
        await ingest.BatchAsync(settings.SmallEvents - ingest.Acknowledged, prepareBodies: false, onStart: null, cancellationToken);
        await CatchUpAsync("before the queries at the small size");
        Log($"queries at {ingest.Acknowledged:N0} events");
        var queriesSmall = await Phase("queries (small)", () => queries.RunAsync(ingest.Acknowledged, [.. ingest.BuiltSerials], settings.QueryRequests, cancellationToken));

        // The measured batch ingest comes last before the large size, on lanes in their steady mix (see below).
        var fill = settings.LargeEvents - settings.BatchEvents - ingest.Acknowledged;
        if (fill > 0)
        {
            Log($"filling the store to {settings.LargeEvents - settings.BatchEvents:N0} events: {fill:N0} more by batch ingest");
            var filled = await Phase("fill", () => ingest.BatchAsync(fill, prepareBodies: false, onStart: null, cancellationToken));
            CountEvents("fill", filled.Events);
            Log($"  {filled.EventsPerSecond:N0} events/s (bodies written while sending)");
        }

        await Phase("fill: read models catch up", () => CatchUpAsync("before single-event ingest"));

        // Batch and single-event ingest are measured on a store near its large size, with every lane in its steady mix of
        // builds, tests, shipments, deliveries and commissionings: the lanes start empty, so early on they post mostly
        // builds and tests, which are cheaper (a new unit has no history to read).
        Log($"HTTP batch ingest: {settings.BatchEvents:N0} events, {BenchmarkSettings.EventsPerBatchRequest} per request, {BenchmarkSettings.BatchConnections} connections");
        var beforeBatch = default(AllocationSnapshot);
        // P6 is the peak during the two ingests, so the high-water mark of start-up and the fill is set aside here.
        var peakBeforeIngest = service.PeakRssMegabytes;
        var peakReset = false;
        var batch = await Phase("batch ingest", () => ingest.BatchAsync(settings.BatchEvents, prepareBodies: true,
            onStart: async () =>
            {
                peakReset = service.ResetPeakRss();
                beforeBatch = await service.ReadAllocationsAsync(cancellationToken);
            }, cancellationToken));
        if (!peakReset)
            notes.Add("The kernel did not reset the service's VmHWM (/proc/<pid>/clear_refs): figure 7a is its peak since start, fill included.");
        CountEvents("batch ingest", batch.Events);
        await Phase("batch: read models catch up", () => CatchUpAsync("after batch ingest"));
        var afterBatch = await service.ReadAllocationsAsync(cancellationToken);
        Log($"  {batch.EventsPerSecond:N0} events/s; request p50 {batch.LatencyMs.P50:F1} ms, p99 {batch.LatencyMs.P99:F1} ms");

        Log($"HTTP single-event ingest: {BenchmarkSettings.SingleConnections} connections, {settings.WarmupSeconds} s warm-up + {settings.SingleSeconds} s; lag sampled meanwhile");
        var beforeSingle = (Events: ingest.Acknowledged, Allocations: await service.ReadAllocationsAsync(cancellationToken));
        var (single, lag, drain, journalAtLoadEnd) = await Phase("single-event ingest", async () =>
        {
            using var stopSampling = new CancellationTokenSource();
            var sampling = Task.Run(async () =>
            {
                await Task.Delay(TimeSpan.FromSeconds(settings.WarmupSeconds), cancellationToken);
                return await Projections.SampleLagAsync(ledgerConnection, TimeSpan.FromMilliseconds(200), stopSampling.Token);
            }, cancellationToken);
            var result = await ingest.SingleAsync(TimeSpan.FromSeconds(settings.WarmupSeconds), TimeSpan.FromSeconds(settings.SingleSeconds), cancellationToken);
            var journalMark = await JournalCatchUp.MarkAsync(ledgerConnection, cancellationToken);
            await stopSampling.CancelAsync();
            var sampled = await sampling;
            var drained = await CatchUpAsync("after single-event ingest") ?? double.NaN;
            return (result, sampled, drained, journalMark);
        });
        var afterSingle = (Events: ingest.Acknowledged, Allocations: await service.ReadAllocationsAsync(cancellationToken));
        var peakDuringIngest = service.PeakRssMegabytes;
        CountEvents("single-event ingest", afterSingle.Events - beforeSingle.Events);
        Log($"  {single.EventsPerSecond:N0} events/s; p50 {single.LatencyMs.P50:F1} ms, p95 {single.LatencyMs.P95:F1} ms, p99 {single.LatencyMs.P99:F1} ms; " +
            $"lag p50 {lag.Seconds.P50:F2} s, p99 {lag.Seconds.P99:F2} s; drained in {drain:F1} s");

        Log($"events acknowledged by type: {string.Join(", ", ingest.EventMix.Select(m => $"{m.Key} {m.Value:N0}"))}");
        // Before the queries and the rebuild, so that neither competes with the journal's catch-up nor it with them.
        var announced = JournalCatchUp.AnnouncedEventTypes.Sum(t => ingest.EventMix.GetValueOrDefault(t));
        Log($"integration events: waiting for the journal to hold all {announced:N0} unit notifications ({journalAtLoadEnd.Journaled:N0} when the load ended)");
        var journal = await Phase(JournalCatchUp.PhaseName, () => JournalCatchUp.WaitAsync(ledgerConnection, announced, journalAtLoadEnd,
            TimeSpan.FromMinutes(settings.JournalMinutes), cancellationToken));
        if (!journal.Finished)
            notes.Add($"The journal held {journal.Journaled:N0} of {journal.Expected:N0} unit notifications after {settings.JournalMinutes} minutes; figure 9 is a lower bound.");
        else if (journal.Journaled > journal.Expected)
            notes.Add($"The journal holds {journal.Journaled:N0} unit notifications but the run posted {journal.Expected:N0} shipments, deliveries and commissionings.");
        Log($"  {journal.Journaled:N0} journaled {journal.SecondsAfterLoad:F1} s after the load ended, {journal.PerSecond:N0}/s meanwhile; " +
            $"commit-to-journal p50 {journal.DelaySeconds.P50:F2} s, p99 {journal.DelaySeconds.P99:F2} s; {journal.Redeliveries:N0} redeliveries");

        var storeEvents = await CountEventsAsync(ledgerConnection, cancellationToken);
        if (storeEvents != ingest.Acknowledged)
            notes.Add($"The store holds {storeEvents:N0} events but {ingest.Acknowledged:N0} were acknowledged.");
        Log($"queries at {storeEvents:N0} events");
        var queriesLarge = await Phase("queries (large)", () => queries.RunAsync(storeEvents, [.. ingest.BuiltSerials], settings.QueryRequests, cancellationToken));

        Log($"rebuilding every read model over {storeEvents:N0} events");
        var rebuild = await Phase("rebuild", () => projections.RebuildAllAsync(storeEvents, TimeSpan.FromMinutes(settings.RebuildMinutes), cancellationToken));
        if (!rebuild.Finished) notes.Add($"The rebuild had not finished after {settings.RebuildMinutes} minutes; figure 5 is an upper bound.");
        Log($"  {rebuild.EventsPerSecond:N0} events/s in {rebuild.Seconds:F1} s ({string.Join(", ", rebuild.SecondsByProjection.Select(p => $"{p.Key} {p.Value} s"))})");

        var atEnd = await service.ReadAllocationsAsync(cancellationToken);
        var memory = new MemoryResult(peakDuringIngest, Math.Max(peakBeforeIngest, service.PeakRssMegabytes), service.RssMegabytes,
            (afterBatch.AllocatedBytes - beforeBatch.AllocatedBytes) / (double)batch.Events,
            (afterSingle.Allocations.AllocatedBytes - beforeSingle.Allocations.AllocatedBytes) / (double)(afterSingle.Events - beforeSingle.Events),
            atEnd);
        // P7 last: every other figure is taken from the process the run started, which stops here.
        Log($"stopping the service; starting it {settings.Starts} times on the filled store, each timed to its first 200 from /health/ready");
        await service.StopAsync();
        var starts = await StartToReady.RunAsync(service.Launch, settings.Starts, Log, cancellationToken);

        if (ingest.ErrorCount > 0)
            notes.Add($"{ingest.ErrorCount:N0} requests were refused (see errorSamples in the JSON): the ingest figures count only acknowledged events.");

        var report = new BenchmarkReport(settings.Mode, startedAt, _clock.Elapsed.TotalSeconds,
            await DescribeMachineAsync(ledgerConnection, loadAtStart, cancellationToken), rawResults, martenResults, batch, single, lag, drain,
            queriesSmall, queriesLarge, rebuild, memory, journal, starts, _cpu, ingest.EventMix, notes);
        await File.WriteAllTextAsync(Path.Combine(runDirectory, "benchmark.json"), report.ToJson(), cancellationToken);
        await File.WriteAllTextAsync(Path.Combine(runDirectory, "benchmark.md"), report.ToMarkdown(), cancellationToken);
        Console.WriteLine();
        Console.WriteLine(report.ToText());
        Console.WriteLine($"Written: {Path.Combine(runDirectory, "benchmark.json")} and benchmark.md");
        return ingest.ErrorCount == 0 ? 0 : 1;

        // --rebuild-only: the store filled to the large size by batch ingest, then figure 5 with the service's resident
        // memory sampled during it. For iterating on rebuilds; the full run is what the documentation reports.
        async Task<int> RebuildOnlyAsync()
        {
            Log($"filling the store to {settings.LargeEvents:N0} events (batch ingest)");
            var filled = await Phase("fill", () => ingest.BatchAsync(settings.LargeEvents, prepareBodies: false, onStart: null, cancellationToken));
            Log($"  {filled.EventsPerSecond:N0} events/s");
            await Phase("fill: read models catch up", () => CatchUpAsync("before the rebuild"));
            var events = await CountEventsAsync(ledgerConnection, cancellationToken);
            var rssBefore = service.RssMegabytes;
            using var stopSampling = new CancellationTokenSource();
            var rssDuring = 0.0;
            var sampler = Task.Run(async () =>
            {
                using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(100));
                try
                {
                    while (await timer.WaitForNextTickAsync(stopSampling.Token)) rssDuring = Math.Max(rssDuring, service.RssMegabytes);
                }
                catch (OperationCanceledException)
                {
                    // The rebuild ended.
                }
            }, cancellationToken);
            Log($"load average before the rebuild: {ProcStats.LoadAverage()}");
            Log($"rebuilding every read model over {events:N0} events");
            var result = await Phase("rebuild", () => projections.RebuildAllAsync(events, TimeSpan.FromMinutes(settings.RebuildMinutes), cancellationToken));
            await stopSampling.CancelAsync();
            await sampler;
            var cpu = _cpu["rebuild"];
            Log($"  {result.EventsPerSecond:N0} events/s in {result.Seconds:F1} s{(result.Finished ? "" : " (NOT finished)")} " +
                $"({string.Join(", ", result.SecondsByProjection.Select(p => $"{p.Key} {p.Value} s"))})");
            Log($"  CPU: service {cpu.Service} s, PostgreSQL {cpu.Postgres} s, wall {cpu.WallSeconds} s; " +
                $"service RSS {rssBefore:F0} MiB before, peak {rssDuring:F0} MiB during (VmHWM of the run {service.PeakRssMegabytes:F0} MiB)");
            Log($"load average after the rebuild: {ProcStats.LoadAverage()}");
            return ingest.ErrorCount == 0 ? 0 : 1;
        }

        // --ingest-only: the store filled by batch ingest to where the full run's measured batch ingest starts, then that
        // phase exactly as the full run measures it (prepared bodies, the read models' catch-up after it), with its CPU and
        // allocations per event. For iterating on the write path (issue 15, P1); the full run is what the documentation reports.
        async Task<int> IngestOnlyAsync()
        {
            var fillTo = settings.LargeEvents - settings.BatchEvents;
            Log($"filling the store to {fillTo:N0} events (batch ingest)");
            var filled = await Phase("fill", () => ingest.BatchAsync(fillTo, prepareBodies: false, onStart: null, cancellationToken));
            CountEvents("fill", filled.Events);
            Log($"  {filled.EventsPerSecond:N0} events/s");
            await Phase("fill: read models catch up", () => CatchUpAsync("before batch ingest"));
            Log($"load average before batch ingest: {ProcStats.LoadAverage()}");
            Log($"HTTP batch ingest: {settings.BatchEvents:N0} events, {BenchmarkSettings.EventsPerBatchRequest} per request, {BenchmarkSettings.BatchConnections} connections");
            var before = default(AllocationSnapshot);
            var measured = await Phase("batch ingest", () => ingest.BatchAsync(settings.BatchEvents, prepareBodies: true,
                onStart: async () => before = await service.ReadAllocationsAsync(cancellationToken), cancellationToken));
            CountEvents("batch ingest", measured.Events);
            await Phase("batch: read models catch up", () => CatchUpAsync("after batch ingest"));
            var after = await service.ReadAllocationsAsync(cancellationToken);
            var cpu = _cpu["batch ingest"];
            var catchUp = _cpu["batch: read models catch up"];
            Log($"  {measured.EventsPerSecond:N0} events/s; request p50 {measured.LatencyMs.P50:F1} ms, p99 {measured.LatencyMs.P99:F1} ms; " +
                $"{measured.Errors:N0} refused");
            Log($"  CPU per event: service {cpu.ServiceMicrosecondsPerEvent:N0} us, PostgreSQL {cpu.PostgresMicrosecondsPerEvent:N0} us " +
                $"(catch-up after it: service {catchUp.Service} s, PostgreSQL {catchUp.Postgres} s); " +
                $"service allocations {(after.AllocatedBytes - before.AllocatedBytes) / (double)measured.Events:N0} bytes per event");
            Log($"  service GCs gen0/gen1/gen2 {after.Gen0 - before.Gen0}/{after.Gen1 - before.Gen1}/{after.Gen2 - before.Gen2}, " +
                $"paused {(after.GcPause - before.GcPause).TotalMicroseconds / measured.Events:N0} us per event; " +
                $"peak RSS since start (VmHWM) {service.PeakRssMegabytes:F0} MiB");
            Log($"load average after batch ingest: {ProcStats.LoadAverage()}");
            return ingest.ErrorCount == 0 ? 0 : 1;
        }

        // A read model that cannot catch up is a finding, not a reason to lose the run: noted, and the run goes on.
        async Task<double?> CatchUpAsync(string when)
        {
            try
            {
                return await projections.WaitForCatchUpAsync(CatchUpTimeout, cancellationToken);
            }
            catch (TimeoutException e)
            {
                notes.Add($"The read models had not caught up {when}: {e.Message}");
                Log("WARNING: " + notes[^1]);
                return null;
            }
        }

        async Task<T> Phase<T>(string name, Func<Task<T>> run)
        {
            if (statements is not null) await statements.ResetAsync(cancellationToken);
            var before = ProcStats.Cpu(service.Pid, postgresPid);
            var result = await run();
            var used = ProcStats.Cpu(service.Pid, postgresPid).Minus(before);
            _cpu[name] = new PhaseCpu(Math.Round(used.Service, 1), Math.Round(used.Postgres, 1), Math.Round(used.LoadGenerator, 1),
                Math.Round((used.At - before.At).TotalSeconds, 1));
            if (statements is not null) await statements.WriteAsync(name, cancellationToken);
            return result;
        }
    }

    private void CountEvents(string phase, long events) => _cpu[phase] = _cpu[phase] with { Events = events };

    private void Log(string message) => Console.WriteLine($"[{_clock.Elapsed:mm\\:ss}] {message}");

    private static async Task<long> CountEventsAsync(string connectionString, CancellationToken cancellationToken)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(cancellationToken);
        await using var command = new NpgsqlCommand("select count(*) from ledger.events", connection);
        return (long)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    private static async Task<MachineInfo> DescribeMachineAsync(string connectionString, string loadAtStart, CancellationToken cancellationToken)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(cancellationToken);
        await using var version = new NpgsqlCommand("show server_version", connection);
        var postgres = "PostgreSQL " + (string)(await version.ExecuteScalarAsync(cancellationToken))!;
        var settings = new SortedDictionary<string, string>(StringComparer.Ordinal);
        await using (var command = new NpgsqlCommand(
            "select name, setting || coalesce(' ' || unit, '') from pg_settings where name = any(@names) order by name", connection))
        {
            command.Parameters.AddWithValue("names", new[]
            {
                "shared_buffers", "max_wal_size", "checkpoint_timeout", "synchronous_commit", "fsync", "full_page_writes", "wal_level",
                "max_connections", "work_mem", "effective_cache_size", "wal_sync_method", "commit_delay",
            });
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken)) settings[reader.GetString(0)] = reader.GetString(1);
        }

        return new MachineInfo(Environment.ProcessorCount, ProcStats.TotalMemoryMegabytes(), ProcStats.CpuModel(),
            RuntimeInformation.OSDescription, RuntimeInformation.FrameworkDescription, postgres, settings, loadAtStart, ProcStats.LoadAverage());
    }
}
