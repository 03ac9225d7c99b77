using System.Collections.Concurrent;
using Ledger.EventStore;
using Ledger.EventStore.Projections;
using Ledger.Production.Factories;
using Ledger.Production.Units;
using Ledger.ReadModels.Tests.Support;
using Ledger.Testing;
using Npgsql;

namespace Ledger.ReadModels.Tests;

/// <summary>
/// Blue/green rebuilds of read models that Marten's async daemon runs (<see cref="ProjectionRebuild"/>, issue 12: "a
/// reader querying throughout a rebuild during ingest never sees an error, a partial model or a total going down"). The
/// rebuild is driven from the test, as a node's supervisor drives it; each test has a database of its own.
/// </summary>
public sealed class RebuildTests(DatabaseFixture database) : IClassFixture<DatabaseFixture>
{
    private static readonly TimeSpan Deadline = TimeSpan.FromMinutes(3);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_rebuild_during_ingest_swaps_in_tables_equal_to_the_reference_while_readers_never_see_an_error_or_a_drop()
    {
        await using var db = await database.CreateDatabaseAsync(Ct);
        await using var dataSource = await MigratedAsync(db, "rebuild-ingest");
        IProjection[] projections = [new FactoryThroughputProjection(InMemoryFactoryRegistry.Seeded), new RebuildWitness()];
        await using var store = MartenDaemon.Store(dataSource, [.. projections.Select(p => new RebuildFence(p))]);
        var admin = new ProjectionAdmin(dataSource);
        await EnsureCheckpointsAsync(dataSource, projections);
        var units = History.Generate(seed: 4041, lathropUnits: 900, shanghaiUnits: 800);
        var appends = DaemonChecks.Appends(units, writers: 2, seed: 9);
        await AppendAllAsync(store, [.. appends.Select(mine => mine.Take(mine.Count / 2).ToArray())]);
        await CaughtUpAsync(store, dataSource, projections);

        // Readers ask over and over while the rebuilds replay and swap: every query must answer, and since builds are never
        // taken back and the witness only grows, no total may ever go down (a partial model swapped in would show as one).
        using var stopReading = new CancellationTokenSource();
        var errors = new ConcurrentQueue<Exception>();
        var drops = new ConcurrentQueue<string>();
        var progress = new ConcurrentQueue<RebuildProgress>();
        long reads = 0;
        var readers = Enumerable.Range(0, 2).Select(_ => Task.Run(async () =>
        {
            long lastBuilt = 0, lastSeen = 0;
            while (!stopReading.IsCancellationRequested)
            {
                try
                {
                    var built = 0L;
                    foreach (var factory in new[] { FactorySeed.Lathrop, FactorySeed.Shanghai })
                    {
                        var rows = await FactoryThroughputQuery.GetAsync(
                            dataSource, factory, new DateOnly(2020, 1, 1), new DateOnly(2026, 12, 31), CalendarBucket.Year, Ct);
                        built += rows.Sum(r => r.UnitsBuilt);
                    }

                    var seen = await ScalarAsync<long>(dataSource, "select count(*) from public.rebuild_seen");
                    if (built < lastBuilt) drops.Enqueue($"units built: {lastBuilt} then {built}");
                    if (seen < lastSeen) drops.Enqueue($"witness: {lastSeen} then {seen}");
                    (lastBuilt, lastSeen) = (built, seen);
                    if ((await admin.GetStatusAsync(FactoryThroughputProjection.ProjectionName, Ct))?.Rebuild is { } rebuild) progress.Enqueue(rebuild);
                    Interlocked.Increment(ref reads);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    errors.Enqueue(e);
                }
            }
        }, Ct)).ToArray();

        foreach (var projection in projections) Assert.True(await admin.RequestRebuildAsync(projection.Name, Ct));
        Assert.False(await admin.RequestRebuildAsync(FactoryThroughputProjection.ProjectionName, Ct), "a second request while one is pending changes nothing");
        var readsAtRequest = Interlocked.Read(ref reads);

        // Two nodes' supervisors call the rebuild over and over; the lock lets one of them run each projection.
        var rebuild = new ProjectionRebuild(dataSource, new ProjectionRebuildOptions { BatchSize = 200, SwapWithin = 200 });
        var swaps = new ConcurrentQueue<string>();
        using var stopRebuilding = new CancellationTokenSource();
        var supervisors = Enumerable.Range(0, 2).Select(_ => Task.Run(async () =>
        {
            while (!stopRebuilding.IsCancellationRequested)
            {
                foreach (var projection in projections)
                {
                    if (await rebuild.RunIfRequestedAsync(projection, Ct)) swaps.Enqueue(projection.Name);
                }

                await Task.Delay(20, Ct);
            }
        }, Ct)).ToArray();

        // Bounded ingest, during the rebuilds: the other half of the history.
        await AppendAllAsync(store, [.. appends.Select(mine => mine.Skip(mine.Count / 2).ToArray())]);
        await Eventually.HoldsAsync(async () =>
            await ScalarAsync<long>(dataSource, "select count(*) from ledger.projection_checkpoints where rebuild_finished_at is not null and rebuild_requested_at is null")
                == projections.Length, "both rebuilds have swapped their tables in", Deadline);
        var readsAtSwap = Interlocked.Read(ref reads);
        await stopRebuilding.CancelAsync();
        await Task.WhenAll(supervisors);

        var feed = await CaughtUpAsync(store, dataSource, projections);
        await stopReading.CancelAsync();
        await Task.WhenAll(readers);

        TestContext.Current.TestOutputHelper?.WriteLine(
            $"{feed.Count} events; {readsAtSwap - readsAtRequest} rounds of reads during the rebuilds; {progress.Count} progress reports");
        Assert.Empty(errors);
        Assert.Empty(drops);
        Assert.True(readsAtSwap > readsAtRequest, "readers asked while the rebuilds ran");
        Assert.Equal(projections.Select(p => p.Name).Order(), swaps.Order());
        Assert.Contains(progress, p => p is { StartedAt: not null, EventsDone: > 0, EventsTotal: > 0 });
        Assert.All(progress, p => Assert.True(p.EventsDone <= p.EventsTotal, $"{p.EventsDone} of {p.EventsTotal}"));
        await ThroughputEqualsTheReferenceAsync(dataSource, Reference.Of(feed), units);
        await WitnessSawEveryEventOnceAsync(dataSource);
        Assert.Equal(2L, await ScalarAsync<long>(dataSource, "select count(*) from ledger.projection_checkpoints where generation = 1 and status = 'running'"));
        Assert.Equal(0L, await ShadowTablesLeftAsync(dataSource));
    }

    [Fact]
    public async Task A_daemon_batch_computed_from_the_replaced_tables_fails_its_fence_and_is_run_again_on_the_new_ones()
    {
        await using var db = await database.CreateDatabaseAsync(Ct);
        await using var dataSource = await MigratedAsync(db, "rebuild-in-flight");
        await ExecuteAsync(dataSource, GatedCounter.Create);
        var counter = new GatedCounter();
        await using var store = MartenDaemon.Store(dataSource, new RebuildFence(counter));
        await EnsureCheckpointsAsync(dataSource, [counter]);
        for (var i = 0; i < 3; i++) await BuildAsync(store, $"BEFORE-{i}");
        await MartenDaemon.WaitForAsync(dataSource, GatedCounter.Shard, await store.GetHeadPositionAsync(Ct), Ct);

        // The live total is wrong (a bug since fixed, say): only a replay repairs it. Then a daemon batch reads it and
        // stops, gated, before Marten writes what it computed.
        await ExecuteAsync(dataSource, "update public.gated_counts set n = 1000");
        var read = counter.CloseGate();
        for (var i = 0; i < 3; i++) await BuildAsync(store, $"DURING-{i}");
        var stale = await read.WaitAsync(Deadline, Ct);
        Assert.Equal(1000L, stale.Read);

        var admin = new ProjectionAdmin(dataSource);
        Assert.True(await admin.RequestRebuildAsync(GatedCounter.Name, Ct));
        // The swap must still be waiting when the gate opens: with the default lock timeout (2 s) it could give up and come
        // back later on a loaded machine, and the batch then commit before any swap, fenced by nothing.
        var rebuild = new ProjectionRebuild(dataSource, new ProjectionRebuildOptions { SwapLockTimeout = Deadline });
        var swapping = Task.Run(() => rebuild.RunIfRequestedAsync(counter, Ct), Ct);
        // The swap waits for the live table behind the gated batch's read transaction; only then is the batch let go, so
        // its writes reach the table after the swap took it. Its own database's swap: other test classes share the server
        // and swap their tables too (CI once let the gate go on another database's wait).
        await Eventually.HoldsAsync(async () => await ScalarAsync<long>(dataSource,
            "select count(*) from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock' and query like 'lock table%'") == 1,
            "the swap waits for the live table", Deadline);
        counter.OpenGate();
        Assert.True(await swapping);

        var head = await store.GetHeadPositionAsync(Ct);
        await MartenDaemon.WaitForAsync(dataSource, GatedCounter.Shard, head, Ct);
        Assert.Equal(6L, await ScalarAsync<long>(dataSource, "select n from public.gated_counts where k = 'all'"));
        // The stale batch (it read 1000) never landed: Marten ran it again over the rebuilt table.
        Assert.Contains(counter.Batches, b => b.First == stale.First && b.Read == 3);
        Assert.Equal(1L, await ScalarAsync<long>(dataSource, "select generation from ledger.projection_checkpoints where name = 'gated-counter'"));
        TestContext.Current.TestOutputHelper?.WriteLine(string.Join('\n', counter.Batches));
        TestContext.Current.TestOutputHelper?.WriteLine(MartenDaemon.Log.Tail(10));
    }

    [Fact]
    public async Task A_bulk_rebuild_cut_off_half_way_is_started_again_by_another_node_and_ends_equal_to_the_reference()
    {
        await using var db = await database.CreateDatabaseAsync(Ct);
        await using var dataSource = await MigratedAsync(db, "rebuild-cut-off");
        var live = new FactoryThroughputProjection(InMemoryFactoryRegistry.Seeded);
        await using var store = MartenDaemon.Store(dataSource, new RebuildFence(live));
        await EnsureCheckpointsAsync(dataSource, [live]);
        var units = History.Generate(seed: 7071, lathropUnits: 700, shanghaiUnits: 600);
        var appends = DaemonChecks.Appends(units, writers: 2, seed: 17);
        await AppendAllAsync(store, [.. appends.Select(mine => mine.Take(mine.Count * 3 / 4).ToArray())]);
        await CaughtUpAsync(store, dataSource, [live]);
        var admin = new ProjectionAdmin(dataSource);
        Assert.True(await admin.RequestRebuildAsync(live.Name, Ct));

        // Node A bulk-replays in small chunks and is cut off after its first write: half-way, shadow tables half full.
        using var cut = new CancellationTokenSource();
        var stalling = new FactoryThroughputProjection(InMemoryFactoryRegistry.Seeded)
        {
            BulkChunkRows = 50,
            AfterBulkWrite = async _ => await cut.CancelAsync(),
        };
        await using (var nodeA = EventStoreDataSource.Create(db.ConnectionString, "rebuild-node-a"))
        {
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => new ProjectionRebuild(nodeA).RunIfRequestedAsync(stalling, cut.Token));
        }

        var half = await admin.GetStatusAsync(live.Name, Ct);
        Assert.NotNull(half?.Rebuild?.StartedAt);
        Assert.Null(half.Rebuild.ShadowCursor);
        Assert.True(half.Rebuild.EventsDone > 0, "the bulk replay had written part of the shadow tables");
        Assert.True(await ScalarAsync<long>(dataSource, "select count(*) from ledger.factory_throughput_units__rebuild") > 0);

        // More events; node B's supervisor finds the request and the lock free, and starts over.
        await AppendAllAsync(store, [.. appends.Select(mine => mine.Skip(mine.Count * 3 / 4).ToArray())]);
        await using (var nodeB = EventStoreDataSource.Create(db.ConnectionString, "rebuild-node-b"))
        {
            Assert.True(await new ProjectionRebuild(nodeB).RunIfRequestedAsync(live, Ct));
        }

        var feed = await CaughtUpAsync(store, dataSource, [live]);
        await ThroughputEqualsTheReferenceAsync(dataSource, Reference.Of(feed), units);
        Assert.Equal(units.Count, await ScalarAsync<long>(dataSource, "select count(*) from ledger.factory_throughput_units"));
        Assert.Equal(0L, await ShadowTablesLeftAsync(dataSource));
        Assert.False(await new ProjectionRebuild(dataSource).RunIfRequestedAsync(live, Ct), "nothing is requested any more");
    }

    [Fact]
    public async Task A_deployments_rebuild_swaps_in_tables_equal_to_those_live_batches_built_monthly_roll_up_included()
    {
        await using var db = await database.CreateDatabaseAsync(Ct);
        await using var dataSource = await MigratedAsync(db, "rebuild-deployments");
        var live = new DeploymentsProjection();
        await using var store = MartenDaemon.Store(dataSource, new RebuildFence(live));
        await EnsureCheckpointsAsync(dataSource, [live]);
        var units = History.Generate(seed: 6061, lathropUnits: 500, shanghaiUnits: 400);
        await AppendAllAsync(store, DaemonChecks.Appends(units, writers: 2, seed: 5));
        await CaughtUpAsync(store, dataSource, [live]);
        // What the daemon's live batches built, kept aside: the rebuild's bulk replay (one fold, COPY) must give the same.
        await ExecuteAsync(dataSource, "create schema built_live; " +
            string.Concat(live.Tables.Select(t => $"create table built_live.{t.Split('.')[1]} as table {t}; ")));

        Assert.True(await new ProjectionAdmin(dataSource).RequestRebuildAsync(live.Name, Ct));
        Assert.True(await new ProjectionRebuild(dataSource).RunIfRequestedAsync(live, Ct));

        await CaughtUpAsync(store, dataSource, [live]);
        foreach (var table in live.Tables)
        {
            var before = $"built_live.{table.Split('.')[1]}";
            Assert.True(await ScalarAsync<long>(dataSource, $"select count(*) from {table}") > 0, $"{table} has rows");
            Assert.Equal(0L, await ScalarAsync<long>(dataSource,
                $"select count(*) from ((table {table} except all table {before}) union all (table {before} except all table {table})) difference"));
        }

        Assert.Equal(0L, await ScalarAsync<long>(dataSource, DeploymentsTests.MonthlyDiffersFromDaily("ledger")));
        Assert.Equal(0L, await ShadowTablesLeftAsync(dataSource));
    }

    [Fact]
    public async Task A_replay_cut_off_after_the_bulk_replay_is_carried_on_from_its_shadow_position()
    {
        await using var db = await database.CreateDatabaseAsync(Ct);
        await using var dataSource = await MigratedAsync(db, "rebuild-take-over");
        var witness = new RebuildWitness();
        await using var store = MartenDaemon.Store(dataSource, new RebuildFence(witness));
        await EnsureCheckpointsAsync(dataSource, [witness]);
        var units = History.Generate(seed: 5051, lathropUnits: 150, shanghaiUnits: 100);
        await AppendAllAsync(store, DaemonChecks.Appends(units, writers: 2, seed: 3));
        await CaughtUpAsync(store, dataSource, [witness]);
        var admin = new ProjectionAdmin(dataSource);
        Assert.True(await admin.RequestRebuildAsync(witness.Name, Ct));

        // Node A replays in batches and dies after two of them.
        using var cut = new CancellationTokenSource();
        var batches = 0;
        var dying = new Delegating(witness, async (batch, token) =>
        {
            await witness.ApplyAsync(batch, token);
            if (++batches == 3) await cut.CancelAsync();
        });
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() =>
            new ProjectionRebuild(dataSource, new ProjectionRebuildOptions { BatchSize = 100, SwapWithin = 0 }).RunIfRequestedAsync(dying, cut.Token));
        var cutAt = (await admin.GetStatusAsync(witness.Name, Ct))?.Rebuild?.ShadowCursor;
        Assert.Equal(200L, await ScalarAsync<long>(dataSource, "select count(*) from public.rebuild_seen__rebuild"));
        Assert.NotNull(cutAt);

        Assert.True(await new ProjectionRebuild(dataSource, new ProjectionRebuildOptions { BatchSize = 100 }).RunIfRequestedAsync(witness, Ct));
        await CaughtUpAsync(store, dataSource, [witness]);
        await WitnessSawEveryEventOnceAsync(dataSource);
    }

    [Fact]
    public async Task A_rebuilder_that_lost_its_lock_cannot_write_into_the_rebuild_another_node_carries_on()
    {
        await using var db = await database.CreateDatabaseAsync(Ct);
        await using var dataSource = await MigratedAsync(db, "rebuild-lost-lock");
        var witness = new RebuildWitness();
        await using var store = MartenDaemon.Store(dataSource, new RebuildFence(witness));
        await EnsureCheckpointsAsync(dataSource, [witness]);
        var units = History.Generate(seed: 6061, lathropUnits: 150, shanghaiUnits: 100);
        await AppendAllAsync(store, DaemonChecks.Appends(units, writers: 2, seed: 5));
        await CaughtUpAsync(store, dataSource, [witness]);
        var admin = new ProjectionAdmin(dataSource);
        Assert.True(await admin.RequestRebuildAsync(witness.Name, Ct));

        // Node A holds its second replay batch open, written but not committed.
        var held = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var batches = 0;
        var holding = new Delegating(witness, async (batch, token) =>
        {
            await witness.ApplyAsync(batch, token);
            if (++batches != 2) return;
            held.TrySetResult();
            await release.Task.WaitAsync(token);
        });
        var options = new ProjectionRebuildOptions { BatchSize = 100, SwapWithin = 100 };
        await using var nodeA = EventStoreDataSource.Create(db.ConnectionString, "rebuild-node-a");
        var a = Task.Run(() => new ProjectionRebuild(nodeA, options).RunIfRequestedAsync(holding, Ct), Ct);
        await held.Task.WaitAsync(Deadline, Ct);

        // A's lock session dies (its other sessions live on); node B takes the rebuild over from the shadow position and
        // waits on the rows A's open batch wrote; then A's batch goes on, and must not land.
        // The rebuild lock's namespace is 0x4C524231 ("LRB1"). Found first, then ended: in one statement PostgreSQL may
        // call pg_terminate_backend before the other conditions.
        var lockHolder = await ScalarAsync<int>(dataSource, "select pid from pg_locks where locktype = 'advisory' and classid = 1280459313 and granted");
        await using (var terminate = dataSource.CreateCommand("select pg_terminate_backend(@pid)"))
        {
            terminate.Parameters.Add(new NpgsqlParameter<int>("pid", lockHolder));
            Assert.True((bool)(await terminate.ExecuteScalarAsync(Ct))!);
        }

        await using var nodeB = EventStoreDataSource.Create(db.ConnectionString, "rebuild-node-b");
        var b = Task.Run(() => new ProjectionRebuild(nodeB, options).RunIfRequestedAsync(witness, Ct), Ct);
        await Eventually.HoldsAsync(async () => await ScalarAsync<long>(dataSource,
            "select count(*) from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock' and query like 'insert into \"public\".\"rebuild_seen__rebuild\"%'") == 1,
            "node B waits for the rows of A's open batch", Deadline);
        release.TrySetResult();

        Assert.False(await a, "node A's attempt stopped without landing");
        Assert.True(await b, "node B swapped");
        await CaughtUpAsync(store, dataSource, [witness]);
        await WitnessSawEveryEventOnceAsync(dataSource);
        Assert.Equal(0L, await ShadowTablesLeftAsync(dataSource));
    }

    [Fact]
    public async Task A_bulk_replay_that_throws_gives_way_to_replay_batches_which_stop_at_the_exact_event_until_retried()
    {
        await using var db = await database.CreateDatabaseAsync(Ct);
        await using var dataSource = await MigratedAsync(db, "rebuild-throws");
        var live = new FactoryThroughputProjection(InMemoryFactoryRegistry.Seeded);
        await using var store = MartenDaemon.Store(dataSource, new RebuildFence(live));
        await EnsureCheckpointsAsync(dataSource, [live]);
        var units = History.Generate(seed: 8081, lathropUnits: 300, shanghaiUnits: 200);
        await AppendAllAsync(store, DaemonChecks.Appends(units, writers: 2, seed: 19));
        var feed = await CaughtUpAsync(store, dataSource, [live]);
        var admin = new ProjectionAdmin(dataSource);
        Assert.True(await admin.RequestRebuildAsync(live.Name, Ct));

        // The new code throws on one event, in bulk and in batches alike, until it is fixed.
        var poison = feed.First(e => e.Type == UnitEvents.UnitTested.StoredName);
        var broken = true;
        var faulty = new Faulty(live, () => broken, e => broken && e.EventId == poison.EventId);
        Assert.False(await new ProjectionRebuild(dataSource).RunIfRequestedAsync(faulty, Ct));
        Assert.True(faulty.BulkThrew, "the bulk replay met the event");
        var failed = await admin.GetStatusAsync(live.Name, Ct);
        Assert.Equal(ProjectionState.Failed, failed?.State);
        Assert.Equal(poison.EventId, failed?.Failure?.EventId);
        Assert.True(failed?.Failure?.DuringRebuild);
        Assert.Equal(feed.Last(e => e.Position < poison.Position).Position, failed?.Rebuild?.ShadowCursor?.Position);
        Assert.False(await new ProjectionRebuild(dataSource).RunIfRequestedAsync(faulty, Ct), "a failed rebuild waits for an operator");

        broken = false;
        Assert.True(await admin.RetryAsync(live.Name, Ct));
        Assert.True(await new ProjectionRebuild(dataSource).RunIfRequestedAsync(faulty, Ct));
        feed = await CaughtUpAsync(store, dataSource, [live]);
        await ThroughputEqualsTheReferenceAsync(dataSource, Reference.Of(feed), units);
    }

    [Fact]
    public async Task Read_models_rebuilt_together_share_one_scan_apply_the_events_appended_during_it_once_and_get_their_indexes_back()
    {
        await using var db = await database.CreateDatabaseAsync(Ct);
        await using var dataSource = await MigratedAsync(db, "rebuild-shared-scan");
        var throughput = new FactoryThroughputProjection(InMemoryFactoryRegistry.Seeded);
        var milestones = new MilestonesProjection(InMemoryFactoryRegistry.Seeded);
        var witness = new RebuildWitness();
        IProjection[] live = [throughput, milestones, witness];
        await using var store = MartenDaemon.Store(dataSource, [.. live.Select(p => new RebuildFence(p))]);
        await EnsureCheckpointsAsync(dataSource, live);
        var units = History.Generate(seed: 9091, lathropUnits: 1200, shanghaiUnits: 900);
        var appends = DaemonChecks.Appends(units, writers: 2, seed: 23);
        await AppendAllAsync(store, [.. appends.Select(mine => mine.Take(mine.Count / 2).ToArray())]);
        await CaughtUpAsync(store, dataSource, live);
        var tables = live.SelectMany(p => p.Tables).ToArray();
        var indexesBefore = await IndexesAsync(dataSource, tables);
        Assert.Contains(indexesBefore, i => i.StartsWith("ledger.milestone_shipments false", StringComparison.Ordinal) && i.EndsWith("WHERE (NOT cancelled)", StringComparison.Ordinal));
        var admin = new ProjectionAdmin(dataSource);
        foreach (var projection in live) Assert.True(await admin.RequestRebuildAsync(projection.Name, Ct));

        // The other half of the history is appended while the shared scan is under way: throughput's first chunk write
        // holds its fold (and so, the channel full, the scan) until it is in. The scan's snapshot is taken by then, so
        // those events are above every horizon and must come from the replay batches, once.
        var appended = 0;
        var rebuilding = new IProjection[]
        {
            new FactoryThroughputProjection(InMemoryFactoryRegistry.Seeded)
            {
                BulkChunkRows = 100,
                AfterBulkWrite = async _ =>
                {
                    if (Interlocked.Exchange(ref appended, 1) == 0) await AppendAllAsync(store, [.. appends.Select(mine => mine.Skip(mine.Count / 2).ToArray())]);
                },
            },
            new MilestonesProjection(InMemoryFactoryRegistry.Seeded) { BulkChunkRows = 100 },
            witness,
        };
        var log = new CollectingLog();
        var runs = new ProjectionRebuild(dataSource, new ProjectionRebuildOptions { BatchSize = 200, SwapWithin = 200 }, log)
            .StartIfRequested(rebuilding, Ct);
        var swapped = await Task.WhenAll(runs).WaitAsync(Deadline, Ct);
        Assert.Equal(new[] { true, true, true }, swapped);
        Assert.Equal(1, appended);

        var scans = log.Lines.Where(l => l.StartsWith("Rebuild scan", StringComparison.Ordinal)).ToArray();
        var scan = Assert.Single(scans);
        Assert.Contains(MartenSetup.ShardName(throughput.Name), scan, StringComparison.Ordinal);
        Assert.Contains(MartenSetup.ShardName(milestones.Name), scan, StringComparison.Ordinal);
        Assert.DoesNotContain(MartenSetup.ShardName(witness.Name), scan, StringComparison.Ordinal);

        var feed = await CaughtUpAsync(store, dataSource, live);
        var reference = Reference.Of(feed);
        await ThroughputEqualsTheReferenceAsync(dataSource, reference, units);
        Assert.Equal(reference.UnitMilestones(), await MilestonesQuery.GetUnitMilestonesAsync(dataSource, cancellationToken: Ct));
        Assert.Equal(reference.FirstShipments(), await MilestonesQuery.GetFirstShipmentsAsync(dataSource, cancellationToken: Ct));
        await WitnessSawEveryEventOnceAsync(dataSource);
        Assert.Equal(indexesBefore, await IndexesAsync(dataSource, tables));
        Assert.Equal(0L, await ShadowTablesLeftAsync(dataSource));
    }

    [Fact]
    public async Task A_read_model_whose_bulk_replay_throws_half_way_leaves_the_shared_scan_and_the_others_go_on_to_the_end()
    {
        await using var db = await database.CreateDatabaseAsync(Ct);
        await using var dataSource = await MigratedAsync(db, "rebuild-shared-scan-fault");
        var throughput = new FactoryThroughputProjection(InMemoryFactoryRegistry.Seeded);
        var milestones = new MilestonesProjection(InMemoryFactoryRegistry.Seeded);
        IProjection[] live = [throughput, milestones];
        await using var store = MartenDaemon.Store(dataSource, [.. live.Select(p => new RebuildFence(p))]);
        await EnsureCheckpointsAsync(dataSource, live);
        // More units than a seat's channel holds (1,000 streams): the scan fills the failed read model's channel and must
        // let go of it rather than wait for it.
        var units = History.Generate(seed: 3031, lathropUnits: 1400, shanghaiUnits: 1000);
        await AppendAllAsync(store, DaemonChecks.Appends(units, writers: 2, seed: 29));
        await CaughtUpAsync(store, dataSource, live);
        var admin = new ProjectionAdmin(dataSource);
        foreach (var projection in live) Assert.True(await admin.RequestRebuildAsync(projection.Name, Ct));

        var failing = new ThrowsAfterStreams(throughput, streams: 10);
        var runs = new ProjectionRebuild(dataSource).StartIfRequested([failing, milestones], Ct);
        var swapped = await Task.WhenAll(runs).WaitAsync(Deadline, Ct);

        Assert.Equal(new[] { true, true }, swapped);
        Assert.Equal(10, failing.StreamsRead);
        var feed = await CaughtUpAsync(store, dataSource, live);
        var reference = Reference.Of(feed);
        await ThroughputEqualsTheReferenceAsync(dataSource, reference, units);
        Assert.Equal(reference.UnitMilestones(), await MilestonesQuery.GetUnitMilestonesAsync(dataSource, cancellationToken: Ct));
        Assert.Equal(reference.FirstShipments(), await MilestonesQuery.GetFirstShipmentsAsync(dataSource, cancellationToken: Ct));
        Assert.Equal(0L, await ShadowTablesLeftAsync(dataSource));
    }

    [Fact]
    public async Task A_batch_whose_progression_was_moved_under_it_is_refused_by_the_progress_fence_and_the_shard_goes_on_from_the_moved_progression()
    {
        // Marten 9.62.0's guard on a batch's progression update (where last_seq_id = floor) does not stop a batch that
        // holds our writes, although the update matches no row: this test showed it (the stale batch's absolute write
        // replaced the moved total) until every batch ended with the progress fence (migration 0011, issue 13), and
        // NodeFreezeTests met it as a resumed node's batch counted twice. Now the stale batch fails (LR002), Marten runs
        // the shard again from the moved progression, and the next event counts on from the moved total.
        await using var db = await database.CreateDatabaseAsync(Ct);
        await using var dataSource = await MigratedAsync(db, "rebuild-marten-guard");
        await ExecuteAsync(dataSource, GatedCounter.Create);
        var counter = new GatedCounter();
        await using var store = MartenDaemon.Store(dataSource, counter);
        for (var i = 0; i < 3; i++) await BuildAsync(store, $"BEFORE-{i}");
        await MartenDaemon.WaitForAsync(dataSource, GatedCounter.Shard, await store.GetHeadPositionAsync(Ct), Ct);

        var read = counter.CloseGate();
        // One append, so the gated batch holds all three and nothing of them is left for Marten to have fetched behind it.
        // Built one append each, the daemon sometimes took the first alone and had the next page in hand: after the
        // fence refused the stale batch, Marten ran that page from its own floor (5, under the moved progression 6),
        // the fence refused it in turn, and the shard made no progress for the 3 minutes the test waited (CI, and 1 in 4
        // runs alone): Marten lost the fence's error and went on from its own floor. The fence now runs before Marten's
        // commit, so the shard resumes from the moved progression; MovedProgressionTests covers that case (issue 15).
        await store.AppendAsync([.. Enumerable.Range(0, 3).Select(i => Build($"DURING-{i}"))], Ct);
        var stale = await read.WaitAsync(Deadline, Ct);
        var head = await store.GetHeadPositionAsync(Ct);
        Assert.Equal(3L, stale.Read);
        Assert.Equal(3, stale.Count);
        await using (var move = dataSource.CreateCommand(
            "update ledger.mt_event_progression set last_seq_id = @head where name = @shard; update public.gated_counts set n = 100"))
        {
            move.Parameters.Add(new NpgsqlParameter<long>("head", head));
            move.Parameters.Add(new NpgsqlParameter<string>("shard", GatedCounter.Shard));
            await move.ExecuteNonQueryAsync(Ct);
        }

        counter.OpenGate();
        await BuildAsync(store, "AFTER");

        // Had the stale batch committed, its absolute write (3 + 3) would have replaced the moved total, and the next
        // event would count on from 6.
        await Eventually.HoldsAsync(async () => await ScalarAsync<long>(dataSource, "select n from public.gated_counts where k = 'all'") == 101,
            $"the stale batch (it read {stale.Read} for {stale.Count} events) was refused and the next event counted on from the moved total", Deadline);
        Assert.Contains(counter.Batches, b => b.Read == 100);
    }

    private static async Task<IReadOnlyList<RecordedEvent>> CaughtUpAsync(EventStore.EventStore store, NpgsqlDataSource dataSource, IEnumerable<IProjection> projections)
    {
        var feed = await DaemonChecks.ReadWholeFeedAsync(store, dataSource);
        foreach (var projection in projections)
        {
            await MartenDaemon.WaitForAsync(dataSource, MartenSetup.ShardName(projection.Name), feed[^1].Position, Ct);
        }

        return feed;
    }

    private static async Task ThroughputEqualsTheReferenceAsync(NpgsqlDataSource dataSource, Reference reference, IReadOnlyList<Support.UnitHistory> units)
    {
        var (from, to) = (new DateOnly(2024, 5, 15), new DateOnly(2025, 10, 9));
        long built = 0;
        foreach (var factory in new[] { FactorySeed.Lathrop, FactorySeed.Shanghai })
        {
            foreach (var bucket in new[] { CalendarBucket.Day, CalendarBucket.Month })
            {
                var rows = await FactoryThroughputQuery.GetAsync(dataSource, factory, from, to, bucket, Ct);
                Assert.Equal(reference.Throughput(factory, from, to, bucket), rows);
                if (bucket == CalendarBucket.Day) built += rows.Sum(r => r.UnitsBuilt);
            }
        }

        Assert.Equal(units.Count, built);
    }

    private static async Task WitnessSawEveryEventOnceAsync(NpgsqlDataSource dataSource)
    {
        // The witness's primary key refuses a second application of a position, and it refuses a batch out of order.
        Assert.Equal(0L, await ScalarAsync<long>(dataSource,
            "select count(*) from ledger.events e full join public.rebuild_seen s using (position) where e.position is null or s.position is null"));
    }

    private static async Task EnsureCheckpointsAsync(NpgsqlDataSource dataSource, IEnumerable<IProjection> projections)
    {
        // A node's supervisor keeps a checkpoint row per read model it runs; a rebuild is requested on it.
        foreach (var projection in projections)
        {
            await using var command = dataSource.CreateCommand("insert into ledger.projection_checkpoints (name) values (@name) on conflict do nothing");
            command.Parameters.Add(new NpgsqlParameter<string>("name", projection.Name));
            await command.ExecuteNonQueryAsync(Ct);
        }
    }

    private static async Task<NpgsqlDataSource> MigratedAsync(TestDatabase db, string name)
    {
        var dataSource = EventStoreDataSource.Create(db.ConnectionString, name);
        await MartenDaemon.MigrateAsync(dataSource, Ct);
        await ExecuteAsync(dataSource, RebuildWitness.Create);
        return dataSource;
    }

    private static Task AppendAllAsync(EventStore.EventStore store, IReadOnlyList<StreamAppend[]>[] perWriter) =>
        Task.WhenAll(perWriter.Select(mine => Task.Run(async () =>
        {
            foreach (var chunk in mine) await store.AppendAsync(chunk, Ct);
        }, Ct)));

    private static Task BuildAsync(EventStore.EventStore store, string serial) => store.AppendAsync([Build(serial)], Ct);

    private static StreamAppend Build(string serial) =>
        new(serial, ExpectedVersion.NoStream,
            [History.ToEventData(new OccurredEvent(new UnitBuilt("lathrop", "MP-L1", "Megapack 2 XL", 3916m), DateTimeOffset.UtcNow))]);

    private static async Task ExecuteAsync(NpgsqlDataSource dataSource, string sql)
    {
        await using var command = dataSource.CreateCommand(sql);
        await command.ExecuteNonQueryAsync(Ct);
    }

    private static async Task<T> ScalarAsync<T>(NpgsqlDataSource dataSource, string sql)
    {
        await using var command = dataSource.CreateCommand(sql);
        return (T)(await command.ExecuteScalarAsync(Ct))!;
    }

    /// <summary>What indexes the tables have, by what they are (names differ after a swap: the copies' are generated).</summary>
    private static async Task<string[]> IndexesAsync(NpgsqlDataSource dataSource, IEnumerable<string> tables)
    {
        await using var command = dataSource.CreateCommand(
            "select i.indrelid::regclass::text || ' ' || i.indisprimary || ' ' || regexp_replace(pg_get_indexdef(i.indexrelid), '^.* USING ', '') " +
            "from pg_index i where i.indrelid = any(@tables::regclass[]) order by 1");
        command.Parameters.Add(new NpgsqlParameter<string[]>("tables", [.. tables]));
        var indexes = new List<string>();
        await using var reader = await command.ExecuteReaderAsync(Ct);
        while (await reader.ReadAsync(Ct)) indexes.Add(reader.GetString(0));
        return [.. indexes];
    }

    private static Task<long> ShadowTablesLeftAsync(NpgsqlDataSource dataSource) => ScalarAsync<long>(dataSource,
        "select count(*) from pg_tables where tablename like '%\\_\\_rebuild' or tablename like '%\\_\\_old'");

    /// <summary>One batch as <see cref="GatedCounter"/> saw it: its first position, its size, and the total it read.</summary>
    private sealed record CounterBatch(long First, int Count, long Read);

    /// <summary>
    /// Counts events with absolute writes (reads the total, writes total + batch size), the way a read model that folds
    /// state does, and can hold a batch between its read and its write.
    /// </summary>
    private sealed class GatedCounter : IProjection
    {
        public const string Create = "create table public.gated_counts (k text primary key, n bigint not null)";
        public const string Shard = "gated-counter:All";

        private volatile TaskCompletionSource _gate = Opened();
        private TaskCompletionSource<CounterBatch>? _read;

        string IProjection.Name => Name;

        public static string Name => "gated-counter";

        public IReadOnlyList<string> Tables { get; } = ["public.gated_counts"];

        public ConcurrentQueue<CounterBatch> Batches { get; } = new();

        /// <summary>Holds the next batch after its read; the task says what it read.</summary>
        public Task<CounterBatch> CloseGate()
        {
            _read = new TaskCompletionSource<CounterBatch>(TaskCreationOptions.RunContinuationsAsynchronously);
            _gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            return _read.Task;
        }

        public void OpenGate() => _gate.TrySetResult();

        public async Task ApplyAsync(ProjectionBatch batch, CancellationToken cancellationToken)
        {
            long total;
            await using (var read = batch.CreateCommand("select coalesce((select n from {public.gated_counts} where k = 'all'), 0)"))
            {
                total = (long)(await read.ExecuteScalarAsync(cancellationToken))!;
            }

            var seen = new CounterBatch(batch.Events[0].Position, batch.Events.Count, total);
            var gate = _gate;
            if (!batch.Table("public.gated_counts").Contains("__rebuild", StringComparison.Ordinal))
            {
                Batches.Enqueue(seen);
                _read?.TrySetResult(seen);
                await gate.Task.WaitAsync(cancellationToken);
            }

            await using var write = batch.CreateCommand(
                "insert into {public.gated_counts} (k, n) values ('all', @n) on conflict (k) do update set n = excluded.n");
            write.Parameters.Add(new NpgsqlParameter<long>("n", total + batch.Events.Count));
            await batch.ExecuteAsync(write, cancellationToken);
        }

        private static TaskCompletionSource Opened()
        {
            var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            gate.SetResult();
            return gate;
        }
    }

    /// <summary>
    /// Records every position it is applied to, in its own tables (so a rebuild replays it too): its primary key refuses a
    /// second application of a position, and it refuses a batch that is not after the last one it holds.
    /// </summary>
    private sealed class RebuildWitness : IProjection
    {
        public const string Create = "create table public.rebuild_seen (position bigint primary key)";

        public string Name => "rebuild-witness";

        public IReadOnlyList<string> Tables { get; } = ["public.rebuild_seen"];

        public async Task ApplyAsync(ProjectionBatch batch, CancellationToken cancellationToken)
        {
            var positions = batch.Events.Select(e => e.Position).ToArray();
            await using (var last = batch.CreateCommand("select coalesce(max(position), 0) from {public.rebuild_seen}"))
            {
                var lastApplied = (long)(await last.ExecuteScalarAsync(cancellationToken))!;
                if (positions[0] <= lastApplied)
                    throw new InvalidOperationException($"Out of order: batch {positions[0]}..{positions[^1]} after {lastApplied}.");
            }

            await using var insert = batch.CreateCommand("insert into {public.rebuild_seen} (position) select unnest(@positions::bigint[])");
            insert.Parameters.Add(new NpgsqlParameter<long[]>("positions", positions));
            await batch.ExecuteAsync(insert, cancellationToken);
        }
    }

    /// <summary>A read model whose batches run through a delegate.</summary>
    private sealed class Delegating(IProjection inner, Func<ProjectionBatch, CancellationToken, Task> apply) : IProjection
    {
        public string Name => inner.Name;

        public IReadOnlyList<string> Tables => inner.Tables;

        public Task ApplyAsync(ProjectionBatch batch, CancellationToken cancellationToken) => apply(batch, cancellationToken);
    }

    /// <summary>A read model's new code that throws on some event, in a bulk replay and in replay batches.</summary>
    private sealed class Faulty(IBulkRebuildProjection inner, Func<bool> broken, Func<RecordedEvent, bool> throwsOn) : IBulkRebuildProjection
    {
        public bool BulkThrew { get; private set; }

        public string Name => inner.Name;

        public IReadOnlyList<string> Tables => inner.Tables;

        public IReadOnlyCollection<string>? EventTypes => inner.EventTypes;

        public Task ApplyAsync(ProjectionBatch batch, CancellationToken cancellationToken)
        {
            if (batch.Events.FirstOrDefault(throwsOn) is { } e) throw new InvalidOperationException($"cannot place event {e.EventId}");
            return inner.ApplyAsync(batch, cancellationToken);
        }

        public Task ReplayAsync(BulkReplay replay, CancellationToken cancellationToken)
        {
            if (!broken()) return inner.ReplayAsync(replay, cancellationToken);
            BulkThrew = true;
            throw new InvalidOperationException("cannot place an event");
        }
    }

    /// <summary>A read model whose new bulk replay throws after reading some streams; its batches are the live code's.</summary>
    private sealed class ThrowsAfterStreams(IBulkRebuildProjection inner, int streams) : IBulkRebuildProjection
    {
        public int StreamsRead { get; private set; }

        public string Name => inner.Name;

        public IReadOnlyList<string> Tables => inner.Tables;

        public IReadOnlyCollection<string>? EventTypes => inner.EventTypes;

        public Task ApplyAsync(ProjectionBatch batch, CancellationToken cancellationToken) => inner.ApplyAsync(batch, cancellationToken);

        public async Task ReplayAsync(BulkReplay replay, CancellationToken cancellationToken)
        {
            await foreach (var _ in replay.ReadStreamsAsync(cancellationToken))
            {
                if (++StreamsRead == streams) throw new InvalidOperationException($"cannot fold stream {streams}");
            }
        }
    }
}
