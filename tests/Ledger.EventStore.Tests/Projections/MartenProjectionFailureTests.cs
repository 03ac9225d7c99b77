using Ledger.EventStore.Projections;
using Ledger.EventStore.Tests.Support;
using Ledger.Testing;

namespace Ledger.EventStore.Tests.Projections;

/// <summary>
/// The operator's side of read models on Marten's async daemon (issue 12): a read model that throws stops at the exact
/// event on every node until an operator retries or skips it (skips audited), infrastructure faults are retried without
/// stopping it, read-your-writes waits on Marten's progression, and the status shows where each read model stands.
/// </summary>
public sealed class MartenProjectionFailureTests(DatabaseFixture database) : IClassFixture<DatabaseFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static EventData Poison() => Events.Make(data: """{"poison":true}""");

    private static bool IsPoison(RecordedEvent e) => e.Data.Contains("poison", StringComparison.Ordinal);

    private static void Print(string text) => TestContext.Current.TestOutputHelper?.WriteLine(text);

    [Fact]
    public async Task A_throwing_projection_stops_at_the_exact_event_and_continues_after_a_retry_once_fixed()
    {
        await using var db = await database.CreateDatabaseAsync(Ct);
        var log = new CapturedLog();
        var broken = true;
        var counter = new MartenCounter("fragile") { FailOn = e => broken && IsPoison(e) };
        await using var writer = await Node.StartAsync(db.ConnectionString);
        await counter.CreateTablesAsync(writer.DataSource);
        var stream = Events.NewStream();
        var before = await writer.Store.AppendToStreamAsync(stream, ExpectedVersion.Any, Events.Many(5), Ct);
        var poison = await writer.Store.AppendToStreamAsync(stream, ExpectedVersion.Any, [Poison()], Ct);
        var after = await writer.Store.AppendToStreamAsync(stream, ExpectedVersion.Any, Events.Many(4), Ct);
        var admin = new ProjectionAdmin(writer.DataSource);

        await using var node = await MartenNode.StartAsync(db.ConnectionString, "solo", log, counter);
        await Eventually.HoldsAsync(async () => (await admin.GetStatusAsync("fragile", Ct))?.State == ProjectionState.Failed, "the projection has failed");

        var failed = (await admin.GetStatusAsync("fragile", Ct))!;
        Assert.Equal(poison.Events[0].EventId, failed.Failure!.EventId);
        Assert.Equal(poison.Events[0].Position, failed.Failure.Position);
        Assert.Contains("cannot count event", failed.Failure.Error, StringComparison.Ordinal);
        Assert.False(failed.Failure.DuringRebuild);
        // Nothing at or after the failed event is applied; what came before it in its batch waits with it.
        Assert.True(failed.Cursor.Position < poison.Events[0].Position, $"the cursor {failed.Cursor} stays before the failed event");
        var applied = await counter.ReadLogAsync(writer.DataSource);
        Assert.All(applied, p => Assert.True(p < poison.Events[0].Position));
        Assert.Equal(10 - applied.Count, failed.LagEvents);
        Assert.True(failed.Lag > TimeSpan.Zero);

        // Marten's coordinator starts the paused shard again at its health check (every 5 s): it stays stopped, because
        // the base refuses every batch while the row says failed.
        await Eventually.HoldsAsync(() => Task.FromResult(log.Logged<ProjectionStoppedException>("solo")), "Marten has tried the stopped shard again");
        Assert.Equal(applied, await counter.ReadLogAsync(writer.DataSource));
        Assert.Equal(ProjectionState.Failed, (await admin.GetStatusAsync("fragile", Ct))!.State);
        Print(await MartenNode.DescribeAsync(writer.DataSource));
        Print(log.Tail(20));

        broken = false;
        Assert.True(await admin.RetryAsync("fragile", Ct));
        Assert.True(await admin.WaitForAsync("fragile", new FeedCursor(after.Events[^1].Position), TimeSpan.FromMinutes(1), Ct),
            $"the retried projection catches up\n{await MartenNode.DescribeAsync(writer.DataSource)}\n{log.Tail(30)}");
        Assert.Equal(10, (await counter.ReadCountsAsync(writer.DataSource))[stream]);
        Assert.Equal([.. before.Events.Concat(poison.Events).Concat(after.Events).Select(e => e.Position)], await counter.ReadLogAsync(writer.DataSource));
        var status = (await admin.GetStatusAsync("fragile", Ct))!;
        Assert.Equal(ProjectionState.Running, status.State);
        Assert.Null(status.Failure);
        Assert.Equal(0, status.LagEvents);
        Assert.Equal(TimeSpan.Zero, status.Lag);
        Assert.Equal(new FeedCursor(after.Events[^1].Position), status.Cursor);
        Assert.Equal("solo", status.OwnerNode);
        Assert.False(await admin.RetryAsync("fragile", Ct), "a running projection has nothing to retry");
    }
}
