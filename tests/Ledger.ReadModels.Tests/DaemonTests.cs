using Ledger.EventStore;
using Ledger.EventStore.Projections;
using Ledger.EventStore.Schema;
using Ledger.Production.Factories;
using Ledger.ReadModels.Tests.Support;
using Ledger.Testing;
using Npgsql;

namespace Ledger.ReadModels.Tests;

/// <summary>
/// The real read models run by the real <see cref="ProjectionDaemon"/> while writers append a generated history: failover
/// and blue/green rebuilds must end in exactly the answers of the in-memory <see cref="Reference"/>. Each test has a
/// database of its own.
/// </summary>
public sealed class ReadModelsUnderTheDaemonTests(DatabaseFixture database) : IClassFixture<DatabaseFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Three_daemons_on_one_database_while_writers_append_give_the_reference_answers_and_apply_nothing_twice()
    {
        await using var db = await database.CreateDatabaseAsync(Ct);
        await using var dataSource = await MigratedAsync(db);
        await using var store = new EventStore.EventStore(dataSource);
        var admin = new ProjectionAdmin(dataSource);
        var units = History.Generate(seed: 3031, lathropUnits: 1100, shanghaiUnits: 1050);
        var appends = DaemonChecks.Appends(units, writers: 2, seed: 5);

        await using var a = DaemonNode.Start(db.ConnectionString, "node-a");
        await using var b = DaemonNode.Start(db.ConnectionString, "node-b");
        await using var c = DaemonNode.Start(db.ConnectionString, "node-c");
        DaemonNode[] nodes = [a, b, c];

        // Each writer signals when half its appends are in, then holds its last quarter back until the failover has been
        // seen, so the kill lands while appends are still going and appends continue under the new owner.
        var halfway = appends.Select(_ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).ToArray();
        var failedOver = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var writers = appends.Select((mine, w) => Task.Run(async () =>
        {
            for (var i = 0; i < mine.Count; i++)
            {
                if (i == mine.Count / 2) halfway[w].TrySetResult();
                if (i == mine.Count * 3 / 4) await failedOver.Task.WaitAsync(Deadline, Ct);
                await store.AppendAsync(mine[i], Ct);
            }

            halfway[w].TrySetResult();
        }, Ct)).ToArray();

        string victimId;
        try
        {
            await Task.WhenAll(halfway.Select(h => h.Task)).WaitAsync(Deadline, Ct);
            ProjectionStatus? throughput = null;
            await Eventually.HoldsAsync(async () =>
            {
                throughput = await admin.GetStatusAsync(FactoryThroughputProjection.ProjectionName, Ct);
                return throughput is { OwnerNode: not null } && throughput.Cursor > FeedCursor.Start;
            }, "factory-throughput has an owner and has applied events");
            victimId = throughput!.OwnerNode!;
            var victim = nodes.Single(n => n.NodeId == victimId);

            var killed = await victim.KillConnectionsAsync(dataSource);
            Assert.True(killed > 0, "the owner had sessions to kill");
            TestContext.Current.TestOutputHelper?.WriteLine($"killed {killed} sessions of {victimId} at cursor {throughput.Cursor}");

            await Eventually.HoldsAsync(async () =>
                (await admin.GetStatusAsync(FactoryThroughputProjection.ProjectionName, Ct))?.OwnerNode is { } owner && owner != victimId,
                "another node owns factory-throughput", TimeSpan.FromSeconds(15));
        }
        finally
        {
            failedOver.TrySetResult();
        }

        await Task.WhenAll(writers);
        TestContext.Current.TestOutputHelper?.WriteLine(
            $"after writers: {string.Join(", ", (await admin.GetStatusAsync(Ct)).Select(s => $"{s.Name}@{s.OwnerNode}"))}");

        var feed = await DaemonChecks.ReadWholeFeedAsync(store, dataSource);
        await DaemonChecks.CaughtUpAsync(admin, feed[^1].Cursor, Deadline);
        await DaemonChecks.AnswersEqualTheReferenceAsync(dataSource, Reference.Of(feed), units);
        Assert.All(nodes, n => Assert.False(n.Running.IsCompleted, $"{n.NodeId}'s daemon is still running"));
        Assert.DoesNotContain(await admin.GetStatusAsync(Ct), s => s.Failure is not null);
    }

    [Fact]
    public async Task A_rebuild_while_ingest_continues_swaps_in_tables_equal_to_the_reference_and_reads_answer_throughout()
    {
        await using var db = await database.CreateDatabaseAsync(Ct);
        await using var dataSource = await MigratedAsync(db);
        await using var store = new EventStore.EventStore(dataSource);
        var admin = new ProjectionAdmin(dataSource);
        var units = History.Generate(seed: 4041, lathropUnits: 1100, shanghaiUnits: 1050);
        var appends = DaemonChecks.Appends(units, writers: 2, seed: 9);
        var firstHalves = appends.Select(mine => mine.Take(mine.Count / 2).ToArray()).ToArray();
        var secondHalves = appends.Select(mine => mine.Skip(mine.Count / 2).ToArray()).ToArray();

        await using var a = DaemonNode.Start(db.ConnectionString, "node-a");
        await using var b = DaemonNode.Start(db.ConnectionString, "node-b");

        await AppendAllAsync(store, firstHalves);
        var firstFeed = await DaemonChecks.ReadWholeFeedAsync(store, dataSource);
        await DaemonChecks.CaughtUpAsync(admin, firstFeed[^1].Cursor, Deadline);

        // A reader asks the throughput question over and over while the rebuilds replay and swap: every query must answer,
        // and since builds are never taken back, no factory's total may ever go down (a swap to a shadow behind the live
        // tables would show as a drop).
        using var stopReading = new CancellationTokenSource();
        var errors = new List<Exception>();
        var drops = new List<string>();
        var reads = 0;
        var reader = Task.Run(async () =>
        {
            var last = new Dictionary<string, long>();
            while (!stopReading.IsCancellationRequested)
            {
                foreach (var factory in new[] { FactorySeed.Lathrop, FactorySeed.Shanghai })
                {
                    try
                    {
                        var rows = await FactoryThroughputQuery.GetAsync(
                            dataSource, factory, new DateOnly(2020, 1, 1), new DateOnly(2026, 12, 31), CalendarBucket.Year, Ct);
                        var total = rows.Sum(r => r.UnitsBuilt);
                        if (total < last.GetValueOrDefault(factory.Id)) drops.Add($"{factory.Id}: {last[factory.Id]} then {total}");
                        last[factory.Id] = total;
                        reads++;
                    }
                    catch (Exception e) when (e is not OperationCanceledException)
                    {
                        errors.Add(e);
                    }
                }
            }
        }, Ct);

        foreach (var name in DaemonChecks.ProjectionNames)
        {
            Assert.True(await admin.RequestRebuildAsync(name, Ct), $"a rebuild of {name} is accepted");
        }

        // Bounded ingest: the other half of the history, no more, so the replays can catch the live cursors.
        await AppendAllAsync(store, secondHalves);
        TestContext.Current.TestOutputHelper?.WriteLine($"ingest ended {DateTimeOffset.UtcNow:O}");
        foreach (var s in await admin.GetStatusAsync(Ct))
        {
            TestContext.Current.TestOutputHelper?.WriteLine(
                $"ingest done: {s.Name} rebuild={s.Rebuild} finished={s.LastRebuildFinishedAt:O} lag={s.LagEvents}");
        }

        await Eventually.HoldsAsync(async () =>
        {
            var statuses = await admin.GetStatusAsync(Ct);
            return DaemonChecks.ProjectionNames.All(name =>
                statuses.SingleOrDefault(s => s.Name == name) is { Rebuild: null, LastRebuildFinishedAt: not null });
        }, "every rebuild has swapped its tables in", Deadline);

        var feed = await DaemonChecks.ReadWholeFeedAsync(store, dataSource);
        await DaemonChecks.CaughtUpAsync(admin, feed[^1].Cursor, Deadline);
        await stopReading.CancelAsync();
        await reader;

        TestContext.Current.TestOutputHelper?.WriteLine($"reads={reads} events={feed.Count}");
        Assert.Empty(errors);
        Assert.Empty(drops);
        Assert.True(reads > 0, "the reader asked while the rebuilds ran");
        await DaemonChecks.AnswersEqualTheReferenceAsync(dataSource, Reference.Of(feed), units);
        Assert.Equal(0L, await ShadowTablesLeftAsync(dataSource));
        Assert.DoesNotContain(await admin.GetStatusAsync(Ct), s => s.Failure is not null);
    }

    private static async Task<NpgsqlDataSource> MigratedAsync(TestDatabase db)
    {
        var dataSource = EventStoreDataSource.Create(db.ConnectionString, "read-models-daemon-tests");
        await new Migrator(dataSource).MigrateAsync([EventStoreSchema.Migrations, ReadModelsSchema.Migrations], Ct);
        return dataSource;
    }

    private static Task AppendAllAsync(EventStore.EventStore store, IReadOnlyList<StreamAppend[]>[] perWriter) =>
        Task.WhenAll(perWriter.Select(mine => Task.Run(async () =>
        {
            foreach (var chunk in mine) await store.AppendAsync(chunk, Ct);
        }, Ct)));

    private static async Task<long> ShadowTablesLeftAsync(NpgsqlDataSource dataSource)
    {
        await using var command = dataSource.CreateCommand(
            "select count(*) from pg_tables where schemaname = 'ledger' and (tablename like '%\\_\\_rebuild' or tablename like '%\\_\\_old')");
        return (long)(await command.ExecuteScalarAsync(Ct))!;
    }
}
