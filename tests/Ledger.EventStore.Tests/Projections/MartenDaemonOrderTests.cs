using Ledger.EventStore.Projections;
using Ledger.EventStore.Tests.Support;
using Ledger.Testing;
using Npgsql;

namespace Ledger.EventStore.Tests.Projections;

/// <summary>
/// Marten's async daemon over the ledger's store, as the read models see it (issue 12: "no committed event is ever
/// skipped"): every event applied exactly once in feed order under concurrent writers; an append whose transaction stays
/// open after drawing its positions holds every read model below it and is applied once it commits; a rolled-back append's
/// hole is passed only after Marten proved it dead.
/// </summary>
public sealed class MartenDaemonOrderTests(DatabaseFixture database) : IClassFixture<DatabaseFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Every_event_is_applied_exactly_once_in_feed_order_under_concurrent_writers()
    {
        await using var db = await database.CreateDatabaseAsync(Ct);
        await using var writer = await Node.StartAsync(db.ConnectionString);
        var counter = new MartenCounter("counter");
        await counter.CreateTablesAsync(writer.DataSource);
        await using var node = await MartenNode.StartAsync(db.ConnectionString, "solo", new CapturedLog(), counter);

        var streams = Enumerable.Range(0, 10).Select(_ => Events.NewStream()).ToArray();
        await Task.WhenAll(Enumerable.Range(0, 8).Select(w => Task.Run(async () =>
        {
            for (var i = 0; i < 25; i++)
            {
                await writer.Store.AppendToStreamAsync(streams[(w + i) % streams.Length], ExpectedVersion.Any, Events.Many(1 + (i % 3)), Ct);
            }
        }, Ct)));

        var feed = await FeedPositionsAsync(writer);
        await Eventually.HoldsAsync(async () => (await counter.ReadLogAsync(writer.DataSource)).Count >= feed.Count, "the model has applied every stored event");
        // The counter refuses any batch that does not continue after the last position it applied, and its log has no key:
        // a position applied twice or out of order shows here.
        Assert.Equal(feed, await counter.ReadLogAsync(writer.DataSource));
        var status = (await new ProjectionAdmin(writer.DataSource).GetStatusAsync("counter", Ct))!;
        Assert.Equal(ProjectionState.Running, status.State);
        Assert.Equal("solo", status.OwnerNode);
        Assert.Equal(0, status.LagEvents);
        Assert.Equal(feed[^1], status.Cursor.Position);
    }

    [Fact]
    public async Task An_append_that_commits_late_is_never_passed_and_is_applied_exactly_once_after_its_commit()
    {
        await using var db = await database.CreateDatabaseAsync(Ct);
        await using var writer = await Node.StartAsync(db.ConnectionString);
        var counter = new MartenCounter("patient");
        await counter.CreateTablesAsync(writer.DataSource);
        var admin = new ProjectionAdmin(writer.DataSource);
        await using var node = await MartenNode.StartAsync(db.ConnectionString, "solo", new CapturedLog(), counter);
        var first = await writer.Store.AppendToStreamAsync(Events.NewStream(), ExpectedVersion.Any, Events.Many(2), Ct);
        await Eventually.HoldsAsync(async () => (await counter.ReadLogAsync(writer.DataSource)).Count == 2, "the first events are applied");

        // The held append draws its positions, then stays uncommitted while later appends commit above it.
        await using var held = await HeldAppend.StartAsync(writer, Events.NewStream("HELD"), 3);
        var later = new List<AppendResult>();
        for (var i = 0; i < 5; i++) later.Add(await writer.Store.AppendToStreamAsync(Events.NewStream(), ExpectedVersion.Any, Events.Many(2), Ct));
        Assert.True(later.SelectMany(r => r.Events).All(e => e.Position > held.Positions[^1]), "the later appends drew higher positions");

        // Marten's detector has seen the gap the open transaction leaves, and the gap has then stayed stale for six times
        // its 500 ms threshold by the database's clock: long enough that a detector taking the open transaction's
        // positions for a dead hole would have skipped them. What passes or fails is only what the read model shows.
        await Eventually.HoldsAsync(async () => await Db.ScalarAsync<long?>(writer.DataSource,
                "select last_seq_id from ledger.mt_event_progression where name = 'HighWaterStuckGap'") == held.Positions[0] - 1,
            "the high-water detector has seen the gap before the open transaction's positions");
        var staleUntil = await Db.ScalarAsync<DateTime>(writer.DataSource, "select clock_timestamp() + interval '3 seconds'");
        await Eventually.HoldsAsync(() => Db.ScalarAsync<bool>(writer.DataSource, "select clock_timestamp() > @until",
            new NpgsqlParameter<DateTime>("until", staleUntil)), "the gap has been stale for six stale thresholds");
        Assert.False(await Db.ScalarAsync<bool>(writer.DataSource,
            "select exists (select 1 from ledger.mt_high_water_skips where ending_sequence >= @first)",
            new NpgsqlParameter<long>("first", held.Positions[0])), "Marten skipped the open transaction's positions");
        Assert.Equal(first.Events.Select(e => e.Position), await counter.ReadLogAsync(writer.DataSource));
        var status = (await admin.GetStatusAsync("patient", Ct))!;
        Assert.True(status.Cursor.Position < held.Positions[0], $"cursor {status.Cursor} passed the held position {held.Positions[0]}");

        await held.CommitAsync();
        var feed = await FeedPositionsAsync(writer);
        await Eventually.HoldsAsync(async () => (await counter.ReadLogAsync(writer.DataSource)).Count >= feed.Count, "every stored event is applied");
        Assert.Equal(
            first.Events.Select(e => e.Position).Concat(held.Positions).Concat(later.SelectMany(r => r.Events).Select(e => e.Position)),
            await counter.ReadLogAsync(writer.DataSource));
        Assert.Equal(ProjectionState.Running, (await admin.GetStatusAsync("patient", Ct))!.State);
    }

    [Fact]
    public async Task A_rolled_back_append_leaves_a_hole_that_holds_the_read_model_only_until_marten_proves_it_dead()
    {
        await using var db = await database.CreateDatabaseAsync(Ct);
        await using var writer = await Node.StartAsync(db.ConnectionString);
        var counter = new MartenCounter("holed");
        await counter.CreateTablesAsync(writer.DataSource);
        await using var node = await MartenNode.StartAsync(db.ConnectionString, "solo", new CapturedLog(), counter);
        var first = await writer.Store.AppendToStreamAsync(Events.NewStream(), ExpectedVersion.Any, Events.Many(2), Ct);
        await Eventually.HoldsAsync(async () => (await counter.ReadLogAsync(writer.DataSource)).Count == 2, "the first events are applied");

        var hole = await HeldAppend.StartAsync(writer, Events.NewStream("HOLE"), 2);
        await hole.RollbackAsync();
        await hole.DisposeAsync();
        var sinceRollback = System.Diagnostics.Stopwatch.StartNew();
        var after = await writer.Store.AppendToStreamAsync(Events.NewStream(), ExpectedVersion.Any, Events.Many(3), Ct);
        Assert.True(after.Events[0].Position > hole.Positions[^1], "the later append drew positions above the hole");

        await Eventually.HoldsAsync(async () => (await counter.ReadLogAsync(writer.DataSource)).Count == 5,
            "the read model passes the hole and applies the later append");
        // A figure for docs/projections.md, never a verdict: the machine is shared.
        TestContext.Current.TestOutputHelper?.WriteLine(
            $"hole at {hole.Positions[0]}-{hole.Positions[^1]}: the append after it was applied {sinceRollback.ElapsedMilliseconds} ms after the rollback");

        Assert.Equal(first.Events.Select(e => e.Position).Concat(after.Events.Select(e => e.Position)), await counter.ReadLogAsync(writer.DataSource));
        Assert.True(await Db.ScalarAsync<bool>(writer.DataSource,
            "select exists (select 1 from ledger.mt_high_water_skips where starting_sequence < @first and ending_sequence >= @last)",
            new NpgsqlParameter<long>("first", hole.Positions[0]), new NpgsqlParameter<long>("last", hole.Positions[^1])),
            "Marten recorded skipping the hole");
        Assert.Equal(ProjectionState.Running, (await new ProjectionAdmin(writer.DataSource).GetStatusAsync("holed", Ct))!.State);
    }

    private static async Task<List<long>> FeedPositionsAsync(Node writer)
    {
        await writer.Store.WaitForFeedAsync(await writer.Store.GetHeadPositionAsync(Ct), Ct);
        var feed = new List<long>();
        for (var page = await writer.Store.ReadFeedAsync(FeedCursor.Start, 1000, cancellationToken: Ct); page.Events.Count > 0;
             page = await writer.Store.ReadFeedAsync(page.Next, 1000, cancellationToken: Ct))
        {
            feed.AddRange(page.Events.Select(e => e.Position));
        }

        return feed;
    }
}
