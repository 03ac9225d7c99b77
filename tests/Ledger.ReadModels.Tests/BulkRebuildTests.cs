using Ledger.EventStore;
using Ledger.EventStore.Projections;
using Ledger.EventStore.Schema;
using Ledger.Production.Factories;
using Ledger.ReadModels.Tests.Support;
using Ledger.Testing;
using Npgsql;

namespace Ledger.ReadModels.Tests;

/// <summary>
/// Rebuilds that start with a bulk replay (one pass over the feed, stream by stream, written with COPY) must give exactly
/// the tables that live batches give, and survive being cut off half-way. Each test has a database of its own.
/// </summary>
public sealed class BulkRebuildTests(DatabaseFixture database) : IClassFixture<DatabaseFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(90);

    private static readonly string[] Tables = [.. ProjectedHistory.Projections().SelectMany(p => p.Tables)];

    [Fact]
    public async Task A_bulk_rebuild_gives_exactly_the_tables_live_batches_gave()
    {
        await using var db = await database.CreateDatabaseAsync(Ct);
        await using var dataSource = await MigratedAsync(db);
        await using var store = new EventStore.EventStore(dataSource);
        var admin = new ProjectionAdmin(dataSource);
        var units = History.Generate(seed: 6061, lathropUnits: 1600, shanghaiUnits: 1500);
        await AppendAllAsync(store, DaemonChecks.Appends(units, writers: 2, seed: 13));
        var feed = await DaemonChecks.ReadWholeFeedAsync(store, dataSource);

        // Live batches only (no bulk replay anywhere): the tables as incremental application leaves them.
        await using (var live = DaemonNode.Start(db.ConnectionString, "live", o => o.BulkReplay = false))
        {
            await DaemonChecks.CaughtUpAsync(admin, feed[^1].Cursor, Deadline);
        }

        await ExecuteAsync(dataSource, "create schema incremental; " +
            string.Concat(Tables.Select(t => $"create table {Copy(t)} as table {t}; ")));

        // Small chunks, so the replay writes many times (every table's COPY in several transactions).
        var replays = new List<string>();
        IReadOnlyList<IProjection> projections =
        [
            new Recording(new FactoryThroughputProjection(InMemoryFactoryRegistry.Seeded) { BulkChunkRows = 97 }, replays),
            new Recording(new MilestonesProjection(InMemoryFactoryRegistry.Seeded) { BulkChunkRows = 97 }, replays),
            new Recording(new DeploymentsProjection { BulkChunkRows = 97 }, replays),
        ];
        await using var bulk = DaemonNode.Start(db.ConnectionString, "bulk", projections: projections);
        foreach (var name in DaemonChecks.ProjectionNames) Assert.True(await admin.RequestRebuildAsync(name, Ct));
        await RebuiltAsync(admin);

        Assert.Equal(DaemonChecks.ProjectionNames.Order(), replays.Order());
        foreach (var table in Tables)
        {
            Assert.True(await CountAsync(dataSource, $"select count(*) from {table}") > 0, $"{table} has rows");
            Assert.Equal(0, await CountAsync(dataSource,
                $"select count(*) from ((table {table} except all table {Copy(table)}) " +
                $"union all (table {Copy(table)} except all table {table})) as difference"));
        }

        await DaemonChecks.AnswersEqualTheReferenceAsync(dataSource, Reference.Of(feed), units);
        Assert.DoesNotContain(await admin.GetStatusAsync(Ct), s => s.Failure is not null);

        static string Copy(string table) => $"incremental.{table.Split('.')[1]}";
    }

    [Fact]
    public async Task A_bulk_rebuild_cut_off_half_way_is_started_again_by_another_node_and_ends_correct()
    {
        await using var db = await database.CreateDatabaseAsync(Ct);
        await using var dataSource = await MigratedAsync(db);
        await using var store = new EventStore.EventStore(dataSource);
        var admin = new ProjectionAdmin(dataSource);
        var units = History.Generate(seed: 7071, lathropUnits: 1100, shanghaiUnits: 1050);
        var appends = DaemonChecks.Appends(units, writers: 2, seed: 17);
        await AppendAllAsync(store, [.. appends.Select(mine => mine.Take(mine.Count * 3 / 4).ToArray())]);
        var firstFeed = await DaemonChecks.ReadWholeFeedAsync(store, dataSource);

        // Node A replays in small chunks and, after its first write of factory-throughput, stops where it is: half-way.
        var halfway = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        IReadOnlyList<IProjection> stalling =
        [
            new FactoryThroughputProjection(InMemoryFactoryRegistry.Seeded)
            {
                BulkChunkRows = 50,
                AfterBulkWrite = async token =>
                {
                    halfway.TrySetResult();
                    await Task.Delay(Timeout.Infinite, token);
                },
            },
            new MilestonesProjection(InMemoryFactoryRegistry.Seeded),
            new DeploymentsProjection(),
        ];
        var a = DaemonNode.Start(db.ConnectionString, "node-a", projections: stalling);
        await DaemonChecks.CaughtUpAsync(admin, firstFeed[^1].Cursor, Deadline);
        Assert.True(await admin.RequestRebuildAsync(FactoryThroughputProjection.ProjectionName, Ct));
        await halfway.Task.WaitAsync(Deadline, Ct);

        var cut = await admin.GetStatusAsync(FactoryThroughputProjection.ProjectionName, Ct);
        Assert.NotNull(cut?.Rebuild);
        Assert.NotNull(cut.Rebuild.StartedAt);
        Assert.Null(cut.Rebuild.ShadowCursor);
        Assert.True(cut.Rebuild.EventsDone > 0, "the replay had written part of the shadow tables");
        Assert.True(await CountAsync(dataSource, "select count(*) from ledger.factory_throughput_units__rebuild") > 0);

        // Live batches go on beside the stalled replay: events appended now reach the live tables.
        await AppendAllAsync(store, [.. appends.Select(mine => mine.Skip(mine.Count * 3 / 4).Take(mine.Count / 8).ToArray())]);
        var meanwhile = await DaemonChecks.ReadWholeFeedAsync(store, dataSource);
        await Eventually.HoldsAsync(async () =>
            await admin.GetStatusAsync(FactoryThroughputProjection.ProjectionName, Ct) is { LagEvents: 0 } s && s.Cursor == meanwhile[^1].Cursor,
            "factory-throughput's live batches applied the events appended during the replay", Deadline);
        Assert.Null((await admin.GetStatusAsync(FactoryThroughputProjection.ProjectionName, Ct))?.Rebuild?.ShadowCursor);

        // Node A dies (every session cut, then the process gone); more events arrive; node B takes over.
        Assert.True(await a.KillConnectionsAsync(dataSource) > 0);
        await a.DisposeAsync();
        await AppendAllAsync(store, [.. appends.Select(mine => mine.Skip(mine.Count * 3 / 4 + mine.Count / 8).ToArray())]);
        await using var b = DaemonNode.Start(db.ConnectionString, "node-b");
        await RebuiltAsync(admin, FactoryThroughputProjection.ProjectionName);

        var feed = await DaemonChecks.ReadWholeFeedAsync(store, dataSource);
        await DaemonChecks.CaughtUpAsync(admin, feed[^1].Cursor, Deadline);
        await DaemonChecks.AnswersEqualTheReferenceAsync(dataSource, Reference.Of(feed), units);
        Assert.Equal(units.Count, await CountAsync(dataSource, "select count(*) from ledger.factory_throughput_units"));
        Assert.Equal(0L, await CountAsync(dataSource,
            "select count(*) from pg_tables where schemaname = 'ledger' and (tablename like '%\\_\\_rebuild' or tablename like '%\\_\\_old')"));
    }

    [Fact]
    public async Task A_bulk_replay_that_throws_gives_way_to_replay_batches_which_stop_at_the_exact_event()
    {
        await using var db = await database.CreateDatabaseAsync(Ct);
        await using var dataSource = await MigratedAsync(db);
        await using var store = new EventStore.EventStore(dataSource);
        var admin = new ProjectionAdmin(dataSource);
        var units = History.Generate(seed: 8081, lathropUnits: 600, shanghaiUnits: 500);
        await AppendAllAsync(store, DaemonChecks.Appends(units, writers: 2, seed: 19));
        // A test of a unit the ledger never built, stored directly: the read model cannot place it, live or in a rebuild.
        var tested = units.SelectMany(u => u.Events).First(e => e.Event is Production.Units.UnitTested);
        var poison = (await store.AppendAsync([new StreamAppend("LTH-2099-000001", ExpectedVersion.Any, [History.ToEventData(tested)])], Ct))
            .Single().Events.Single();
        await using var node = DaemonNode.Start(db.ConnectionString, "node");

        await FailedOnAsync(admin, poison.EventId, inRebuild: false);
        Assert.NotNull(await admin.SkipAsync(FactoryThroughputProjection.ProjectionName, "bulk-tests", Ct));
        Assert.True(await admin.RequestRebuildAsync(FactoryThroughputProjection.ProjectionName, Ct));

        // The bulk replay meets it too and gives way; the replay batches then stop exactly there, visibly.
        await FailedOnAsync(admin, poison.EventId, inRebuild: true);
        Assert.NotNull(await admin.SkipAsync(FactoryThroughputProjection.ProjectionName, "bulk-tests", Ct));
        await RebuiltAsync(admin, FactoryThroughputProjection.ProjectionName);

        var feed = await DaemonChecks.ReadWholeFeedAsync(store, dataSource);
        await DaemonChecks.CaughtUpAsync(admin, feed[^1].Cursor, Deadline);
        await DaemonChecks.AnswersEqualTheReferenceAsync(dataSource, Reference.Of(feed.Where(e => e.EventId != poison.EventId)), units);
        Assert.Equal(2, await CountAsync(dataSource, "select count(*) from ledger.projection_skips"));
    }

    private static async Task FailedOnAsync(ProjectionAdmin admin, Guid eventId, bool inRebuild) =>
        await Eventually.HoldsAsync(async () =>
            await admin.GetStatusAsync(FactoryThroughputProjection.ProjectionName, Ct) is
                { State: ProjectionState.Failed, Failure: { } failure } && failure.EventId == eventId && failure.DuringRebuild == inRebuild,
            $"factory-throughput has failed on the poisoned event (in a rebuild: {inRebuild})", Deadline);

    private static async Task RebuiltAsync(ProjectionAdmin admin, params string[] names)
    {
        var expected = names.Length > 0 ? names : DaemonChecks.ProjectionNames;
        await Eventually.HoldsAsync(async () =>
        {
            var statuses = await admin.GetStatusAsync(Ct);
            Assert.DoesNotContain(statuses, s => s.Failure is not null);
            return expected.All(name => statuses.SingleOrDefault(s => s.Name == name) is { Rebuild: null, LastRebuildFinishedAt: not null });
        }, "the rebuilds have swapped their tables in", Deadline);
    }

    private static async Task<NpgsqlDataSource> MigratedAsync(TestDatabase db)
    {
        var dataSource = EventStoreDataSource.Create(db.ConnectionString, "read-models-bulk-tests");
        await new Migrator(dataSource).MigrateAsync([EventStoreSchema.Migrations, ReadModelsSchema.Migrations], Ct);
        return dataSource;
    }

    private static Task AppendAllAsync(EventStore.EventStore store, IReadOnlyList<StreamAppend[]>[] perWriter) =>
        Task.WhenAll(perWriter.Select(mine => Task.Run(async () =>
        {
            foreach (var chunk in mine) await store.AppendAsync(chunk, Ct);
        }, Ct)));

    private static async Task ExecuteAsync(NpgsqlDataSource dataSource, string sql)
    {
        await using var command = dataSource.CreateCommand(sql);
        await command.ExecuteNonQueryAsync(Ct);
    }

    private static async Task<long> CountAsync(NpgsqlDataSource dataSource, string sql)
    {
        await using var command = dataSource.CreateCommand(sql);
        return (long)(await command.ExecuteScalarAsync(Ct))!;
    }

    /// <summary>Passes everything through to a read model and notes which ones were rebuilt by a bulk replay.</summary>
    private sealed class Recording(IBulkRebuildProjection inner, List<string> replays) : IBulkRebuildProjection
    {
        public string Name => inner.Name;
        public IReadOnlyList<string> Tables => inner.Tables;
        public IReadOnlyCollection<string>? ReplayTypes => inner.ReplayTypes;

        public Task ApplyAsync(ProjectionBatch batch, CancellationToken cancellationToken) => inner.ApplyAsync(batch, cancellationToken);

        public async Task ReplayAsync(BulkReplay replay, CancellationToken cancellationToken)
        {
            await inner.ReplayAsync(replay, cancellationToken);
            lock (replays) replays.Add(Name);
        }
    }
}
