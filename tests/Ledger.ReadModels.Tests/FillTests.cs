using Ledger.EventStore;
using Ledger.EventStore.Projections;
using Ledger.Production.Factories;
using Ledger.ReadModels.Tests.Support;
using Ledger.Testing;
using Npgsql;

namespace Ledger.ReadModels.Tests;

/// <summary>
/// Read models held from the daemon's start and filled by the rebuild's bulk replay
/// (<see cref="EventStore.EventStore.FillHeldProjectionsAsync"/>, issue 15 P8: how `ledger run` seeds a new ledger): a
/// held read model gets nothing while held, the fill makes its tables equal to what the reference computes from the same
/// history, and the daemon carries on from the fill's horizon, so every event appended before, during and after the fill
/// is applied exactly once. Each test has a database of its own.
/// </summary>
public sealed class FillTests(DatabaseFixture database) : IClassFixture<DatabaseFixture>
{
    private static readonly TimeSpan Deadline = TimeSpan.FromMinutes(3);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Held_read_models_get_nothing_until_the_fill_which_makes_them_equal_to_the_reference_and_applies_every_event_once()
    {
        await using var db = await database.CreateDatabaseAsync(Ct);
        await using var dataSource = await MigratedAsync(db, "fill-held");
        var units = History.Generate(seed: 4242, lathropUnits: 900, shanghaiUnits: 700);
        var appends = DaemonChecks.Appends(units, writers: 2, seed: 31);
        // Thirds: before the fill, while its bulk replay writes (above the scan's horizon: replay batches or the swap
        // must apply them), after the release (the daemon must).
        var before = appends.Select(mine => mine.Take(mine.Count / 3).ToArray()).ToArray();
        var during = appends.Select(mine => mine.Skip(mine.Count / 3).Take(mine.Count / 3).ToArray()).ToArray();
        var after = appends.Select(mine => mine.Skip(2 * (mine.Count / 3)).ToArray()).ToArray();

        EventStore.EventStore? store = null;
        var appended = 0;
        var throughput = new FactoryThroughputProjection(InMemoryFactoryRegistry.Seeded)
        {
            BulkChunkRows = 100,
            AfterBulkWrite = async _ =>
            {
                if (Interlocked.Exchange(ref appended, 1) == 0) await AppendAllAsync(store!, during);
            },
        };
        var milestones = new MilestonesProjection(InMemoryFactoryRegistry.Seeded) { BulkChunkRows = 100 };
        var deployments = new DeploymentsProjection { BulkChunkRows = 100 };
        var witness = new FillWitness();
        IProjection[] held = [throughput, milestones, deployments, witness];
        // The daemon's own witness is not held: the daemon runs (and its high-water agent with it) while the others wait.
        store = Store(dataSource, held, [new WitnessProjection()]);
        await using var _ = store;

        await AppendAllAsync(store, before);
        var head = await store.GetHeadPositionAsync(Ct);
        await MartenDaemon.WaitForAsync(dataSource, MartenDaemon.WitnessShard, head, Ct);
        foreach (var projection in held)
        {
            Assert.Equal(0L, await MartenDaemon.ProgressAsync(dataSource, MartenSetup.ShardName(projection.Name), Ct));
            foreach (var table in projection.Tables) Assert.Equal(0L, await ScalarAsync<long>(dataSource, $"select count(*) from {table}"));
        }

        var filled = await store.FillHeldProjectionsAsync(Ct).WaitAsync(Deadline, Ct);
        Assert.Equal(held.Select(p => p.Name).Order(), filled.Order());
        Assert.Equal(1, appended);
        foreach (var projection in held)
        {
            // The swap set the progression to the horizon its tables hold: at least the events appended before the fill.
            Assert.True(await MartenDaemon.ProgressAsync(dataSource, MartenSetup.ShardName(projection.Name), Ct) >= head, projection.Name);
        }

        await AppendAllAsync(store, after);
        var feed = await DaemonChecks.ReadWholeFeedAsync(store, dataSource);
        foreach (var projection in held) await MartenDaemon.WaitForAsync(dataSource, MartenSetup.ShardName(projection.Name), feed[^1].Position, Ct);

        var reference = Reference.Of(feed);
        await DaemonChecks.AnswersEqualTheReferenceAsync(dataSource, reference, units);
        // The witness's primary key refuses a second application of a position and its check a batch out of order.
        Assert.Equal(0L, await ScalarAsync<long>(dataSource,
            "select count(*) from ledger.events e full join public.fill_seen s using (position) where e.position is null or s.position is null"));
        Assert.Equal(0L, await ScalarAsync<long>(dataSource,
            "select count(*) from pg_tables where tablename like '%\\_\\_rebuild' or tablename like '%\\_\\_old'"));
        Assert.Equal(0L, await ScalarAsync<long>(dataSource,
            "select count(*) from ledger.projection_checkpoints where rebuild_requested_at is not null or status <> 'running'"));
    }

    [Fact]
    public async Task A_held_read_model_the_daemon_already_ran_stays_held_is_not_filled_and_carries_on_from_its_progression()
    {
        await using var db = await database.CreateDatabaseAsync(Ct);
        await using var dataSource = await MigratedAsync(db, "fill-ran");
        var units = History.Generate(seed: 4343, lathropUnits: 150, shanghaiUnits: 100);
        var appends = DaemonChecks.Appends(units, writers: 1, seed: 7);
        var half = appends[0].Count / 2;
        long ran;
        await using (var first = Store(dataSource, [], [new FillWitness(), new WitnessProjection()]))
        {
            await AppendAllAsync(first, [appends[0].Take(half).ToArray()]);
            ran = await first.GetHeadPositionAsync(Ct);
            await MartenDaemon.WaitForAsync(dataSource, FillWitness.Shard, ran, Ct);
        }

        await using var store = Store(dataSource, [new FillWitness()], [new WitnessProjection()]);
        await AppendAllAsync(store, [appends[0].Skip(half).ToArray()]);
        var head = await store.GetHeadPositionAsync(Ct);
        await MartenDaemon.WaitForAsync(dataSource, MartenDaemon.WitnessShard, head, Ct);
        Assert.Equal(ran, await MartenDaemon.ProgressAsync(dataSource, FillWitness.Shard, Ct));
        Assert.Equal(ran, await ScalarAsync<long>(dataSource, "select max(position) from public.fill_seen"));

        Assert.Empty(await store.FillHeldProjectionsAsync(Ct).WaitAsync(Deadline, Ct));
        await MartenDaemon.WaitForAsync(dataSource, FillWitness.Shard, head, Ct);
        Assert.Equal(0L, await ScalarAsync<long>(dataSource,
            "select count(*) from ledger.events e full join public.fill_seen s using (position) where e.position is null or s.position is null"));
        Assert.Equal(0L, await ScalarAsync<long>(dataSource,
            "select count(*) from ledger.projection_checkpoints where rebuild_requested_at is not null"));
    }

    [Fact]
    public async Task A_held_read_model_another_node_owns_is_released_unfilled_and_that_node_applies_its_events()
    {
        await using var db = await database.CreateDatabaseAsync(Ct);
        await using var dataSource = await MigratedAsync(db, "fill-owned-elsewhere");
        // Node A runs the witness (its daemon takes the shard's lock at once), whose batches wait until the end: its
        // progression stays 0 while node B tries to fill it.
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var witness = new FillWitness();
        var gated = new Gated(witness, async (batch, token) =>
        {
            await gate.Task.WaitAsync(token);
            await witness.ApplyAsync(batch, token);
        });
        await using var a = Store(dataSource, [], [gated, new WitnessProjection()]);
        await Eventually.HoldsAsync(async () => await OwnershipLocksAsync(dataSource, "fill-witness") == 1,
            "node A holds the witness's ownership lock", Deadline);

        await using var b = Store(dataSource, [new FillWitness()], [new WitnessProjection()]);
        var units = History.Generate(seed: 4545, lathropUnits: 60, shanghaiUnits: 40);
        await AppendAllAsync(b, DaemonChecks.Appends(units, writers: 1, seed: 11));
        var head = await b.GetHeadPositionAsync(Ct);

        await MartenDaemon.WaitForAsync(dataSource, MartenDaemon.WitnessShard, head, Ct);

        // Never run, but owned by node A: node B may not fill it.
        Assert.Equal(0L, await MartenDaemon.ProgressAsync(dataSource, FillWitness.Shard, Ct));
        Assert.Empty(await b.FillHeldProjectionsAsync(Ct).WaitAsync(Deadline, Ct));
        gate.SetResult();
        await MartenDaemon.WaitForAsync(dataSource, FillWitness.Shard, head, Ct);
        Assert.Equal(0L, await ScalarAsync<long>(dataSource,
            "select count(*) from ledger.events e full join public.fill_seen s using (position) where e.position is null or s.position is null"));
        Assert.Equal(0L, await ScalarAsync<long>(dataSource,
            "select count(*) from ledger.projection_checkpoints where rebuild_requested_at is not null"));
        Assert.Equal(1L, await OwnershipLocksAsync(dataSource, "fill-witness"));
    }

    [Fact]
    public async Task A_fill_stopped_half_way_is_abandoned_by_the_next_node_that_runs_the_read_model_from_the_start()
    {
        await using var db = await database.CreateDatabaseAsync(Ct);
        await using var dataSource = await MigratedAsync(db, "fill-stopped");
        var units = History.Generate(seed: 4646, lathropUnits: 150, shanghaiUnits: 100);
        var rebuilds = new ProjectionRebuildOptions { BatchSize = 100 };
        await StopAFillHalfWayAsync(dataSource, units, rebuilds);

        // Node B (the same `ledger run` started again): it holds nothing, so its daemon runs the witness from 0, here
        // only once the request is dealt with. Its rebuild maintenance must not carry the fill on as a rebuild, whose
        // swap would wait (logging errors) for a progression to pass the shadow position.
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var log = new WarningLog();
        var again = new FillWitness();
        var waiting = new Gated(again, async (batch, token) =>
        {
            await gate.Task.WaitAsync(token);
            await again.ApplyAsync(batch, token);
        });
        await using var b = Store(dataSource, [], [waiting, new WitnessProjection()], rebuilds, log);
        await Eventually.HoldsAsync(async () => await ScalarAsync<long>(dataSource,
                "select count(*) from ledger.projection_checkpoints where rebuild_requested_at is not null") == 0,
            "node B abandoned the stopped fill's request", Deadline);
        Assert.Equal(0L, await ScalarAsync<long>(dataSource,
            "select count(*) from pg_tables where tablename like '%\\_\\_rebuild' or tablename like '%\\_\\_old'"));
        Assert.Equal(0L, await ScalarAsync<long>(dataSource, "select count(*) from public.fill_seen"));

        gate.SetResult();
        var head = await b.GetHeadPositionAsync(Ct);
        await MartenDaemon.WaitForAsync(dataSource, FillWitness.Shard, head, Ct);
        Assert.Equal(0L, await ScalarAsync<long>(dataSource,
            "select count(*) from ledger.events e full join public.fill_seen s using (position) where e.position is null or s.position is null"));
        Assert.Equal(0L, await ScalarAsync<long>(dataSource,
            "select count(*) from ledger.projection_checkpoints where rebuild_requested_at is not null or status <> 'running'"));
        Assert.DoesNotContain(log.Tail(1000).Split('\n'), l => l.Contains("rebuild", StringComparison.OrdinalIgnoreCase));
    }

    [Fact]
    public async Task A_fill_stopped_half_way_is_carried_on_by_the_next_fill_and_applies_every_event_once()
    {
        await using var db = await database.CreateDatabaseAsync(Ct);
        await using var dataSource = await MigratedAsync(db, "fill-carried-on");
        var units = History.Generate(seed: 4747, lathropUnits: 150, shanghaiUnits: 100);
        var rebuilds = new ProjectionRebuildOptions { BatchSize = 100 };
        await StopAFillHalfWayAsync(dataSource, units, rebuilds);

        // Node B holds the read model again (the same `ledger run` resuming its seeding): its fill carries the request on.
        await using var b = Store(dataSource, [new FillWitness()], [new WitnessProjection()], rebuilds);
        Assert.Equal(["fill-witness"], await b.FillHeldProjectionsAsync(Ct).WaitAsync(Deadline, Ct));
        var head = await b.GetHeadPositionAsync(Ct);
        Assert.True(await MartenDaemon.ProgressAsync(dataSource, FillWitness.Shard, Ct) >= head);
        Assert.Equal(0L, await ScalarAsync<long>(dataSource,
            "select count(*) from ledger.events e full join public.fill_seen s using (position) where e.position is null or s.position is null"));
        Assert.Equal(0L, await ScalarAsync<long>(dataSource,
            "select count(*) from ledger.projection_checkpoints where rebuild_requested_at is not null or status <> 'running'"));
        Assert.Equal(0L, await ScalarAsync<long>(dataSource,
            "select count(*) from pg_tables where tablename like '%\\_\\_rebuild' or tablename like '%\\_\\_old'"));
    }

    /// <summary>
    /// Node A (a `ledger run` stopped by Ctrl+C during its fill) holds the witness, appends the history and fills: the
    /// fill's first replay batch lands in the shadow tables, its second stops the fill. Leaves the fill's request behind,
    /// its shadow tables at the first batch, and the witness never run (progression 0).
    /// </summary>
    private static async Task StopAFillHalfWayAsync(NpgsqlDataSource dataSource, IReadOnlyList<Support.UnitHistory> units, ProjectionRebuildOptions rebuilds)
    {
        // From the second batch on, every batch of the witness on A waits until A stops, so its daemon (the release lets
        // it run the witness) applies nothing before A is gone.
        var applied = 0;
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var witness = new FillWitness();
        var gated = new Gated(witness, async (batch, token) =>
        {
            if (Interlocked.Increment(ref applied) == 1)
            {
                await witness.ApplyAsync(batch, token);
                return;
            }

            await stop.CancelAsync();
            await Task.Delay(Timeout.Infinite, token);
        });
        await using (var a = Store(dataSource, [gated], [new WitnessProjection()], rebuilds))
        {
            await AppendAllAsync(a, DaemonChecks.Appends(units, writers: 1, seed: 13));
            var appended = await a.GetHeadPositionAsync(Ct);
            await MartenDaemon.WaitForAsync(dataSource, MartenDaemon.WitnessShard, appended, Ct);
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => a.FillHeldProjectionsAsync(stop.Token).WaitAsync(Deadline, Ct));
        }

        // What A left behind: the fill's request, with shadow tables that hold the first batch.
        Assert.Equal(100L, await ScalarAsync<long>(dataSource,
            "select shadow_position from ledger.projection_checkpoints where name = 'fill-witness' and rebuild_requested_at is not null"));
        Assert.Equal(0L, await MartenDaemon.ProgressAsync(dataSource, FillWitness.Shard, Ct));
    }

    private static async Task<long> OwnershipLocksAsync(NpgsqlDataSource dataSource, string projection)
    {
        await using var command = dataSource.CreateCommand(
            "select count(*) from pg_locks where locktype = 'advisory' and granted and objsubid = 1 " +
            "and ((classid::bigint << 32) | objid::bigint) = @key");
        command.Parameters.Add(new NpgsqlParameter<long>("key", MartenSetup.OwnershipLockKey(projection)));
        return (long)(await command.ExecuteScalarAsync(Ct))!;
    }

    [Fact]
    public async Task A_fill_whose_read_model_a_daemon_moved_meanwhile_does_not_swap_and_leaves_the_live_tables_as_they_are()
    {
        await using var db = await database.CreateDatabaseAsync(Ct);
        await using var dataSource = await MigratedAsync(db, "fill-overtaken");
        var units = History.Generate(seed: 4444, lathropUnits: 60, shanghaiUnits: 40);
        await using var store = Store(dataSource, [], [new WitnessProjection()]);
        await AppendAllAsync(store, DaemonChecks.Appends(units, writers: 1, seed: 9));
        var head = await store.GetHeadPositionAsync(Ct);
        await MartenDaemon.WaitForAsync(dataSource, MartenDaemon.WitnessShard, head, Ct);

        // The fill's first replay batch waits; meanwhile "another node's daemon" runs the read model: it writes the live
        // table and moves the progression, as a batch does.
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var reached = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var witness = new FillWitness();
        var gated = new Gated(witness, async (batch, token) =>
        {
            reached.TrySetResult();
            await gate.Task.WaitAsync(token);
            await witness.ApplyAsync(batch, token);
        });
        var log = new CollectingLog();
        var fill = new ProjectionRebuild(dataSource, new ProjectionRebuildOptions { BatchSize = 100 }, log).StartFill([gated], Ct)[0];
        await reached.Task.WaitAsync(Deadline, Ct);
        await using (var moved = dataSource.CreateCommand(
            "insert into public.fill_seen (position) values (1); insert into ledger.mt_event_progression (name, last_seq_id) values (@shard, 1)"))
        {
            moved.Parameters.Add(new NpgsqlParameter<string>("shard", FillWitness.Shard));
            await moved.ExecuteNonQueryAsync(Ct);
        }

        gate.SetResult();
        Assert.False(await fill.WaitAsync(Deadline, Ct));
        Assert.Contains(log.Lines, l => l.Contains("the fill gives way", StringComparison.Ordinal));
        Assert.Equal(1L, await MartenDaemon.ProgressAsync(dataSource, FillWitness.Shard, Ct));
        Assert.Equal(1L, await ScalarAsync<long>(dataSource, "select count(*) from public.fill_seen"));
    }

    private static EventStore.EventStore Store(
        NpgsqlDataSource dataSource, IProjection[] held, IProjection[] running, ProjectionRebuildOptions? rebuilds = null,
        Microsoft.Extensions.Logging.ILoggerFactory? log = null)
    {
        var options = new EventStoreOptions
        {
            EventTypes = Production.Units.UnitEvents.StoredNamesByType,
            LoggerFactory = log ?? MartenDaemon.Log,
            Rebuilds = rebuilds ?? new ProjectionRebuildOptions(),
        };
        foreach (var projection in held.Concat(running)) options.AsyncProjections.Add(new RebuildFence(projection));
        foreach (var projection in held) options.HeldProjections.Add(projection.Name);
        var store = new EventStore.EventStore(dataSource, options);
        _ = store.StartProjectionsAsync();
        return store;
    }

    private static async Task<NpgsqlDataSource> MigratedAsync(TestDatabase db, string name)
    {
        var dataSource = EventStoreDataSource.Create(db.ConnectionString, name);
        await MartenDaemon.MigrateAsync(dataSource, Ct);
        await using var create = dataSource.CreateCommand(FillWitness.Create);
        await create.ExecuteNonQueryAsync(Ct);
        return dataSource;
    }

    private static Task AppendAllAsync(EventStore.EventStore store, IReadOnlyList<StreamAppend[]>[] perWriter) =>
        Task.WhenAll(perWriter.Select(mine => Task.Run(async () =>
        {
            foreach (var chunk in mine) await store.AppendAsync(chunk, Ct);
        }, Ct)));

    private static async Task<T> ScalarAsync<T>(NpgsqlDataSource dataSource, string sql)
    {
        await using var command = dataSource.CreateCommand(sql);
        return (T)(await command.ExecuteScalarAsync(Ct))!;
    }

    /// <summary>A read model whose batches run through a delegate.</summary>
    private sealed class Gated(IProjection inner, Func<ProjectionBatch, CancellationToken, Task> apply) : IProjection
    {
        public string Name => inner.Name;

        public IReadOnlyList<string> Tables => inner.Tables;

        public Task ApplyAsync(ProjectionBatch batch, CancellationToken cancellationToken) => apply(batch, cancellationToken);
    }

    /// <summary>
    /// Records every position it is applied to, in its own table (so a fill replays it too): its primary key refuses a
    /// second application of a position, and it refuses a batch that is not after the last one it holds.
    /// </summary>
    private sealed class FillWitness : IProjection
    {
        public const string Create = "create table public.fill_seen (position bigint primary key)";

        public static readonly string Shard = MartenSetup.ShardName("fill-witness");

        public string Name => "fill-witness";

        public IReadOnlyList<string> Tables { get; } = ["public.fill_seen"];

        public async Task ApplyAsync(ProjectionBatch batch, CancellationToken cancellationToken)
        {
            var positions = batch.Events.Select(e => e.Position).ToArray();
            await using (var last = batch.CreateCommand("select coalesce(max(position), 0) from {public.fill_seen}"))
            {
                var lastApplied = (long)(await last.ExecuteScalarAsync(cancellationToken))!;
                if (positions[0] <= lastApplied)
                    throw new InvalidOperationException($"Out of order: batch {positions[0]}..{positions[^1]} after {lastApplied}.");
            }

            await using var insert = batch.CreateCommand("insert into {public.fill_seen} (position) select unnest(@positions::bigint[])");
            insert.Parameters.Add(new NpgsqlParameter<long[]>("positions", positions));
            await batch.ExecuteAsync(insert, cancellationToken);
        }
    }
}
