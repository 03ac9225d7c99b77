using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;
using JasperFx;
using JasperFx.Events;
using JasperFx.Events.Projections;
using Ledger.Benchmarks.Infrastructure;
using Ledger.Benchmarks.Reporting;
using Ledger.Benchmarks.Workload;
using Ledger.Production.Units;
using Marten;
using Marten.Events.Aggregation;
using Marten.Events.Projections.Flattened;
using Npgsql;

namespace Ledger.Benchmarks.Phases;

/// <summary>
/// One bare-Marten figure: events committed per second while measuring, the server's and this process's CPU per event
/// (this process is Marten's client: serialization, the session, Npgsql), and how long each <c>SaveChangesAsync</c> took.
/// </summary>
internal sealed record MartenRate(
    long Events, double EventsPerSecond, double PostgresMicrosecondsPerEvent, double ClientMicrosecondsPerEvent, Percentiles SaveChangesMs);

/// <summary>
/// The bare-Marten baselines (issues 12 and 15): Quick append without and with an inline single-stream projection, each
/// in 100-event sessions from <see cref="BenchmarkSettings.BatchConnections"/> clients and single-event sessions from
/// <see cref="BenchmarkSettings.SingleConnections"/> clients.
/// </summary>
/// <remarks><see cref="Checks"/>: what the stores hold that they should not (events lost, documents not folded); empty when sound.</remarks>
internal sealed record MartenResults(
    MartenRate QuickBatch, MartenRate QuickSingle, MartenRate InlineBatch, MartenRate InlineSingle, MartenRebuild Rebuild,
    IReadOnlyList<string> Checks);

/// <summary>Marten's async daemon rebuilding one flat-table projection: events per second, and CPU per event.</summary>
internal sealed record MartenRebuild(
    long Events, double Seconds, double EventsPerSecond, bool Finished, double PostgresMicrosecondsPerEvent, double ClientMicrosecondsPerEvent);

/// <summary>
/// What a team would get from Marten alone on this server: the benchmark's Megapack events appended with
/// <c>session.Events.Append</c> + <c>SaveChangesAsync</c>, Quick append mode, from the same number of clients as the
/// service's ingest phases, with none of the ledger's own work (no rules, no idempotency look-up, no hash chain, no HTTP,
/// no asynchronous read models). The inline variant adds one <see cref="SingleStreamProjection{TDoc,TId}"/> of a unit
/// status document folded by the domain's own <see cref="UnitRules.Evolve"/>, written in the append's transaction.
/// Each variant has its own database on the cluster the raw baselines use, and its schema is created before the clock
/// starts, so no figure includes Marten's first-use schema check.
/// </summary>
/// <remarks>With <c>--profile</c> (<paramref name="profileDirectory"/> set), each phase's pg_stat_statements go to
/// statements-marten-&lt;variant&gt;-&lt;phase&gt;.txt there, as the service's phases do.</remarks>
internal sealed class MartenBaselines(BenchmarkCluster cluster, BenchmarkSettings settings, Action<string> log, string? profileDirectory = null)
{
    public const string QuickDatabase = "marten_quick";
    public const string InlineDatabase = "marten_inline";

    /// <summary>The header holding the line system's occurredAt: Quick append stamps the event with the server's clock.</summary>
    public const string OccurredAtHeader = "occurredAt";

    // Same seed as the service's history: both variants append the very same events in the same order.
    private const int HistorySeed = 20250211;

    /// <summary>Both variants, one after the other.</summary>
    /// <remarks>
    /// <paramref name="ceilingEventsPerSecond"/> bounds what Marten can append per second here (the raw 100-row INSERT
    /// rate: Marten writes the same rows and more); it sizes the history so that no lane runs out of units while timed.
    /// </remarks>
    public async Task<MartenResults> RunAsync(double ceilingEventsPerSecond, CancellationToken cancellationToken)
    {
        var checks = new List<string>();
        // One end of history for both, since the plan depends on it.
        var now = DateTimeOffset.UtcNow;
        var quick = await RunVariantAsync(QuickDatabase, inline: false, ceilingEventsPerSecond, now, checks, cancellationToken);
        var inline = await RunVariantAsync(InlineDatabase, inline: true, ceilingEventsPerSecond, now, checks, cancellationToken);
        return new MartenResults(quick.Batch, quick.Single, inline.Batch, inline.Single, quick.Rebuild!, checks);
    }

    /// <summary>
    /// How the store is configured: every decision in one place. Metadata columns carry what the raw rows' metadata does
    /// (the actor as user name, a correlation id per session, the actor's id and occurredAt as headers), so the rows hold
    /// the same information; the raw rows' 32-byte hash has no counterpart in bare Marten.
    /// </summary>
    public static DocumentStore CreateStore(string connectionString, bool inline, bool flatTable = false) => DocumentStore.For(options =>
    {
        options.Connection(connectionString);
        // Production applies the schema through a migration and starts with creation off; so does the benchmark
        // (ApplyAllConfiguredChangesToDatabaseAsync below), which keeps the schema check out of every timed session.
        options.AutoCreateSchemaObjects = AutoCreate.None;
        // The default 5 s would turn a stall on this shared two-core machine into a failed run rather than a slow figure.
        options.CommandTimeout = 60;
        options.Events.StreamIdentity = StreamIdentity.AsString;
        // QuickWithServerTimestamps is the default; plain Quick is the mode the issues name.
        options.Events.AppendMode = EventAppendMode.Quick;
        // The ledger needs it (a repeated event id must be refused, not stored twice), so the baseline pays for it too.
        options.Events.EnableUniqueIndexOnEventId = true;
        options.Events.MetadataConfig.HeadersEnabled = true;
        options.Events.MetadataConfig.CorrelationIdEnabled = true;
        options.Events.MetadataConfig.UserNameEnabled = true;
        foreach (var type in UnitEvents.All) options.Events.MapEventType(type.ClrType, type.StoredName);
        if (inline) options.Projections.Add(new UnitStatusProjection(), ProjectionLifecycle.Inline);
        // Registered only on the store that rebuilds it: an async projection would not cost the appends anything
        // without a daemon, but the append baselines then configure exactly what they measure.
        if (flatTable) options.Projections.Add(new UnitMilestonesTable(), ProjectionLifecycle.Async);
        // A rebuild that skipped what it could not apply would report a rate for work it did not do: fail instead.
        options.Projections.RebuildErrors.SkipApplyErrors = false;
        options.Projections.RebuildErrors.SkipUnknownEvents = false;
        options.Projections.RebuildErrors.SkipSerializationErrors = false;
    });

    private async Task<(MartenRate Batch, MartenRate Single, MartenRebuild? Rebuild)> RunVariantAsync(
        string database, bool inline, double ceilingEventsPerSecond, DateTimeOffset now, List<string> checks, CancellationToken cancellationToken)
    {
        var name = inline ? "Quick + inline projection" : "Quick";
        await cluster.CreateDatabaseAsync(database, cancellationToken);
        await using var store = CreateStore(cluster.ConnectionString(database), inline);
        await store.Storage.ApplyAllConfiguredChangesToDatabaseAsync(AutoCreate.CreateOrUpdate);
        var statements = profileDirectory is null
            ? null
            : await StatementProfile.EnableAsync(cluster.ConnectionString(database), profileDirectory, cancellationToken);

        // Two timed phases, each bounded by the ceiling, and the rebuild's fill; twice that for units unfinished at the end.
        // The same for both variants, so that both append the same events.
        var planned = ((long)(Math.Max(ceilingEventsPerSecond, 50_000) * (settings.WarmupSeconds + settings.RawSeconds) * 2) + settings.LargeEvents) * 2;
        var history = new MegapackHistory(planned, now, HistorySeed);
        var lanes = history.AssignLanes(BenchmarkSettings.SingleConnections).Select(f => new Lane(history, f)).ToArray();

        const int batchClients = BenchmarkSettings.BatchConnections;
        log($"bare Marten, {name}: {BenchmarkSettings.EventsPerBatchRequest}-event sessions, {batchClients} clients, {settings.RawSeconds} s");
        var batch = await Profiled("batch", () => TimedAsync(store,
            [.. Enumerable.Range(0, batchClients).Select(k => lanes.Where((_, j) => j % batchClients == k).ToArray())],
            BenchmarkSettings.EventsPerBatchRequest, cancellationToken));
        Log(batch);
        log($"bare Marten, {name}: single-event sessions, {BenchmarkSettings.SingleConnections} clients, {settings.RawSeconds} s");
        var single = await Profiled("single", () => TimedAsync(store, [.. lanes.Select(lane => new[] { lane })], 1, cancellationToken));
        Log(single);
        checks.AddRange(await CheckAsync(store, name, inline, batch.Committed + single.Committed, cancellationToken));
        var rebuild = inline
            ? null
            : await RebuildAsync(database, store, lanes, batch.Committed + single.Committed, checks, statements, cancellationToken);
        return (batch.Rate, single.Rate, rebuild);

        async Task<T> Profiled<T>(string phase, Func<Task<T>> run)
        {
            if (statements is not null) await statements.ResetAsync(cancellationToken);
            var result = await run();
            if (statements is not null) await statements.WriteAsync($"marten-{(inline ? "inline" : "quick")}-{phase}", cancellationToken);
            return result;
        }

        void Log((MartenRate Rate, long Committed) result) =>
            log($"  {result.Rate.EventsPerSecond:N0} events/s; PostgreSQL CPU {result.Rate.PostgresMicrosecondsPerEvent:N0} us/event, " +
                $"client {result.Rate.ClientMicrosecondsPerEvent:N0} us/event; SaveChanges p50 {result.Rate.SaveChangesMs.P50:F1} ms, p99 {result.Rate.SaveChangesMs.P99:F1} ms");
    }

    /// <summary>
    /// Each client takes its sessions from its lanes in turn (a lane is used by one client at a time, so every unit's
    /// events stay in order); a session appends the events of each unit it touches to that unit's stream. Like the raw
    /// baselines: a warm-up, then what commits during the measured seconds, and the CPU meanwhile.
    /// </summary>
    private async Task<(MartenRate Rate, long Committed)> TimedAsync(
        DocumentStore store, Lane[][] clients, int eventsPerSession, CancellationToken cancellationToken)
    {
        long committed = 0;
        var measuring = 0;
        var latencies = new ConcurrentBag<double>();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var workers = clients.Select((lanes, client) => Task.Run(async () =>
        {
            var actorId = Guid.CreateVersion7().ToString();
            for (var turn = 0; !stop.IsCancellationRequested; turn++)
            {
                var (events, milliseconds) = await AppendAsync(store, lanes[turn % lanes.Length], eventsPerSession, actorId);
                if (Volatile.Read(ref measuring) == 1) latencies.Add(milliseconds);
                Interlocked.Add(ref committed, events);
            }
        }, cancellationToken)).ToArray();

        try
        {
            await Task.Delay(TimeSpan.FromSeconds(settings.WarmupSeconds), cancellationToken);
            var (startCount, started, startServer, startClient) = Snapshot();
            Volatile.Write(ref measuring, 1);
            await Task.Delay(TimeSpan.FromSeconds(settings.RawSeconds), cancellationToken);
            Volatile.Write(ref measuring, 0);
            var (endCount, ended, endServer, endClient) = Snapshot();
            await stop.CancelAsync();
            await Task.WhenAll(workers);
            var events = endCount - startCount;
            return (new MartenRate(events, events / Stopwatch.GetElapsedTime(started, ended).TotalSeconds,
                events > 0 ? (endServer - startServer) * 1e6 / events : double.NaN,
                events > 0 ? (endClient - startClient) * 1e6 / events : double.NaN,
                Percentiles.Of(latencies)), Interlocked.Read(ref committed));
        }
        finally
        {
            // A worker that failed fails the run above (Task.WhenAll); on the way out, none is left running.
            await stop.CancelAsync();
            try
            {
                await Task.WhenAll(workers);
            }
            catch (Exception) when (cancellationToken.IsCancellationRequested || workers.Any(w => w.IsFaulted))
            {
                // Already reported by the first Task.WhenAll, or the run was cancelled.
            }
        }

        (long Count, long At, double Server, double Client) Snapshot() => (Interlocked.Read(ref committed), Stopwatch.GetTimestamp(),
            ProcStats.PostgresSeconds(cluster.PostmasterPid), Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds);
    }

    /// <summary>
    /// One session: the lane's next events, each unit's appended to that unit's stream with the metadata the raw rows carry.
    /// Not cancelled once sent, so that what the caller counts is what committed. Returns the events and the
    /// <c>SaveChangesAsync</c> time in milliseconds.
    /// </summary>
    private static async Task<(int Events, double Milliseconds)> AppendAsync(DocumentStore store, Lane lane, int count, string actorId)
    {
        var events = lane.Take(count);
        await using var session = store.LightweightSession();
        session.CorrelationId = Guid.NewGuid().ToString("N");
        session.LastModifiedBy = $"{lane.Factory.Id}-mes";
        foreach (var unit in events.GroupBy(e => e.Serial, StringComparer.Ordinal))
        {
            var action = session.Events.Append(unit.Key, unit.Select(e => (object)e.Event));
            foreach (var (appended, planned) in action.Events.Zip(unit))
            {
                appended.SetHeader(OccurredAtHeader, planned.OccurredAt);
                appended.SetHeader("actorId", actorId);
            }
        }

        var sent = Stopwatch.GetTimestamp();
        await session.SaveChangesAsync(CancellationToken.None);
        return (events.Count, Stopwatch.GetElapsedTime(sent).TotalMilliseconds);
    }

    /// <summary>
    /// The reference for the rebuild target (issue 15, P3): the Quick store filled to the mode's large size (untimed,
    /// 100-event sessions from 8 clients on the same lanes), then Marten's own async daemon rebuilding one
    /// <see cref="UnitMilestonesTable"/> over all of it, timed from the rebuild request until the daemon reports it
    /// done. The daemon is built before the clock starts; the table's schema is applied before it too.
    /// </summary>
    private async Task<MartenRebuild> RebuildAsync(
        string database, DocumentStore appending, Lane[] lanes, long stored, List<string> checks, StatementProfile? statements,
        CancellationToken cancellationToken)
    {
        var fill = settings.LargeEvents - stored;
        if (fill > 0)
        {
            log($"bare Marten, rebuild: filling the Quick store to {settings.LargeEvents:N0} events ({fill:N0} more, untimed)");
            const int clients = BenchmarkSettings.BatchConnections;
            await Task.WhenAll(Enumerable.Range(0, clients).Select(k => Task.Run(async () =>
            {
                var owned = lanes.Where((_, j) => j % clients == k).ToArray();
                var actorId = Guid.CreateVersion7().ToString();
                for (long left = fill / clients + (k < fill % clients ? 1 : 0), turn = 0; left > 0; turn++)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    left -= (await AppendAsync(appending, owned[turn % owned.Length],
                        (int)Math.Min(left, BenchmarkSettings.EventsPerBatchRequest), actorId)).Events;
                }
            }, cancellationToken)));
        }

        await using var store = CreateStore(cluster.ConnectionString(database), inline: false, flatTable: true);
        await store.Storage.ApplyAllConfiguredChangesToDatabaseAsync(AutoCreate.CreateOrUpdate);
        long events;
        await using (var session = store.QuerySession())
        {
            events = await session.Events.QueryAllRawEvents().CountAsync(cancellationToken);
        }

        // As the raw scan (1d) gets: statistics for the tables just filled. Without them the daemon's page query was
        // planned from an empty table's estimates and read 159,000 buffers per 500-event page (docs/benchmarks.md).
        await using (var connection = new NpgsqlConnection(cluster.ConnectionString(database)))
        {
            await connection.OpenAsync(cancellationToken);
            await using var analyze = new NpgsqlCommand("vacuum (analyze) mt_events, mt_streams", connection);
            await analyze.ExecuteNonQueryAsync(cancellationToken);
        }

        log($"bare Marten, rebuild: the async daemon rebuilds one flat-table projection over {events:N0} events");
        using var daemon = await store.BuildProjectionDaemonAsync();
        if (statements is not null) await statements.ResetAsync(cancellationToken);
        var (started, startServer, startClient) = (Stopwatch.GetTimestamp(), ProcStats.PostgresSeconds(cluster.PostmasterPid),
            Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds);
        var finished = true;
        try
        {
            await daemon.RebuildProjectionAsync<UnitMilestonesTable>(TimeSpan.FromMinutes(settings.RebuildMinutes), cancellationToken);
        }
        catch (TimeoutException)
        {
            finished = false;
        }

        var seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
        var (serverSeconds, clientSeconds) = (ProcStats.PostgresSeconds(cluster.PostmasterPid) - startServer,
            Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds - startClient);
        if (statements is not null) await statements.WriteAsync("marten-quick-rebuild", cancellationToken);
        var result = new MartenRebuild(events, seconds, events / seconds, finished,
            serverSeconds * 1e6 / events, clientSeconds * 1e6 / events);
        log($"  {result.EventsPerSecond:N0} events/s in {seconds:F1} s{(finished ? "" : " (NOT finished)")}; " +
            $"PostgreSQL CPU {result.PostgresMicrosecondsPerEvent:N0} us/event, client {result.ClientMicrosecondsPerEvent:N0} us/event");

        // Every event went through the projection once: each row counts its unit's events.
        await using (var session = store.QuerySession())
        {
            var rows = await session.AdvancedSql.QueryAsync<long>(
                $"select coalesce(sum(events), 0)::bigint from {UnitMilestonesTable.TableName}", cancellationToken);
            if (rows[0] != events)
                checks.Add($"bare Marten, rebuild: the flat table counts {rows[0]:N0} events of the {events:N0} stored{(finished ? "" : " (unfinished)")}");
        }

        return result;
    }

    /// <summary>
    /// The store holds every event that was committed, and (inline) every stream has its document folded to the stream's
    /// version: figures of a baseline that lost events or skipped its projection would be worthless.
    /// </summary>
    private static async Task<IReadOnlyList<string>> CheckAsync(
        DocumentStore store, string name, bool inline, long committed, CancellationToken cancellationToken)
    {
        await using var session = store.QuerySession();
        var stored = await session.Events.QueryAllRawEvents().CountAsync(cancellationToken);
        var problems = new List<string>();
        if (stored != committed) problems.Add($"bare Marten, {name}: mt_events holds {stored:N0} events, {committed:N0} were committed");
        // The stored type names are the ledger's (unit-built.v1 ...), not Marten's defaults derived from the class names.
        var types = await session.Events.QueryAllRawEvents().Select(e => e.EventTypeName).Distinct().ToListAsync(cancellationToken);
        var foreign = types.Where(t => !UnitEvents.TryFindByStoredName(t, out _)).ToList();
        if (foreign.Count > 0) problems.Add($"bare Marten, {name}: stored type names that are not the ledger's: {string.Join(", ", foreign)}");
        if (!inline) return problems;
        var documents = await session.Query<UnitStatus>().CountAsync(cancellationToken);
        var folded = await session.Query<UnitStatus>().SumAsync(d => d.State.Version, cancellationToken);
        var streams = await session.Events.QueryAllRawEvents().Select(e => e.StreamKey!).Distinct().CountAsync(cancellationToken);
        if (documents != streams || folded != stored)
        {
            problems.Add($"bare Marten, {name}: {documents:N0} unit status documents folding {folded:N0} events, " +
                $"for {streams:N0} streams holding {stored:N0}");
        }

        return problems;
    }
}

/// <summary>The inline projection's document: a unit's state as the domain folds it.</summary>
public sealed record UnitStatus(string Id, UnitState State);

/// <summary>
/// Unit status as Marten's own single-stream projection, folded by the domain's pure <see cref="UnitRules.Evolve"/>
/// (the rules' view of the unit), registered inline so that it is written in the append's transaction.
/// </summary>
public sealed class UnitStatusProjection : SingleStreamProjection<UnitStatus, string>
{
    public UnitStatusProjection()
    {
        foreach (var type in UnitEvents.All) IncludeType(type.ClrType);
    }

    public override UnitStatus? Evolve(UnitStatus? snapshot, string id, IEvent e)
    {
        ArgumentNullException.ThrowIfNull(e);
        if (e.Data is not IUnitEvent data) return snapshot;
        return new UnitStatus(id, UnitRules.Evolve(snapshot?.State ?? UnitState.Initial, new OccurredEvent(data, OccurredAt(e))));
    }

    /// <summary>The sender's occurredAt: the object set on append inside the session, JSON when read back from the store.</summary>
    private static DateTimeOffset OccurredAt(IEvent e) => e.GetHeader(MartenBaselines.OccurredAtHeader) switch
    {
        DateTimeOffset at => at,
        JsonElement { ValueKind: JsonValueKind.String } json => json.GetDateTimeOffset(),
        var other => throw new InvalidOperationException($"Event {e.Id} has no {MartenBaselines.OccurredAtHeader} header (found {other ?? "nothing"})."),
    };
}

/// <summary>
/// Marten's flat-table recipe for a plain SQL read model: one row per unit with its build, stage, and counts of its
/// tests and events, each event one call of Marten's generated upsert function. Rebuilt by Marten's daemon as the
/// bare-Marten reference for rebuilds (issue 15, P3); <c>events</c> lets the benchmark check that every event was applied.
/// </summary>
/// <remarks>
/// Marten 9.62 generates an UPDATE-only function for an event that maps only some of the table's columns (its #4255),
/// so the first version of this table, with shipment and delivery columns, silently stayed empty: <see cref="UnitBuilt"/>
/// now maps every column (its counts set, not incremented), which makes its function an upsert, and the later events of
/// a unit update the row it created.
/// </remarks>
public sealed class UnitMilestonesTable : FlatTableProjection
{
    public const string TableName = "unit_milestones";

    public UnitMilestonesTable() : base(TableName, SchemaNameSource.EventSchema)
    {
        Table.AddColumn<string>("serial").AsPrimaryKey();
        Project<UnitBuilt>(map =>
        {
            map.Map(e => e.FactoryId, "factory_id");
            map.Map(e => e.Line, "line");
            map.Map(e => e.Model, "model");
            map.Map(e => e.NameplateKwh, "nameplate_kwh");
            map.SetValue("stage", "built");
            map.SetValue("tests", 0);
            map.SetValue("events", 1);
        });
        Project<UnitTested>(map =>
        {
            map.SetValue("stage", "tested");
            map.Increment("tests");
            map.Increment("events");
        });
        Later<UnitReworked>("reworked");
        Later<UnitShipped>("in-transit");
        Later<ShipmentCancelled>("passed");
        Later<UnitDelivered>("delivered");
        Later<UnitCommissioned>("commissioned");
        Later<UnitScrapped>("scrapped");
    }

    private void Later<TEvent>(string stage) => Project<TEvent>(map =>
    {
        map.SetValue("stage", stage);
        map.Increment("events");
    });
}
