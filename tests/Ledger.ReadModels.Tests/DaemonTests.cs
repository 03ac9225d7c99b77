using Ledger.EventStore;
using Ledger.EventStore.Projections;
using Ledger.EventStore.Schema;
using Ledger.ReadModels.Tests.Support;
using Ledger.Testing;
using Npgsql;

namespace Ledger.ReadModels.Tests;

/// <summary>
/// The real read models run by the real <see cref="ProjectionDaemon"/> while writers append a generated history: failover
/// must end in exactly the answers of the in-memory <see cref="Reference"/>. Each test has a
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
}
