using Ledger.EventStore.Audit;
using Ledger.EventStore.Tests.Support;
using Ledger.Testing;

namespace Ledger.EventStore.Tests.Audit;

public sealed class SealerTests(DatabaseFixture database) : IClassFixture<DatabaseFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Committed_events_are_sealed_in_feed_order_into_full_blocks_that_form_a_chain()
    {
        await using var db = await database.CreateDatabaseAsync(Ct);
        await using var node = await Node.StartAsync(db.ConnectionString);
        for (var i = 0; i < 25; i++) await node.Store.AppendToStreamAsync(Events.NewStream(), ExpectedVersion.Any, Events.Many(10), Ct);

        var digest = await AuditHarness.SealEverythingAsync(node.DataSource, 250, blockSize: 100);

        var blocks = await new LedgerAudit(node.DataSource).ReadBlocksAsync(Ct).ToListAsync(Ct);
        Assert.Equal([100, 100, 50], blocks.Select(b => b.EventCount));
        Assert.Equal([1L, 2L, 3L], blocks.Select(b => b.Number));
        Assert.Null(blocks[0].PreviousChainHash);
        Assert.Equal(blocks[0].ChainHash, blocks[1].PreviousChainHash);
        Assert.Equal(blocks[1].ChainHash, blocks[2].PreviousChainHash);
        var feed = await node.Store.ReadFeedAsync(FeedCursor.Start, 1000, cancellationToken: Ct);
        Assert.Equal(feed.Events.Select(e => e.Position), blocks.SelectMany(b => b.Positions));
        Assert.Equal(feed.Events.Select(e => Convert.ToHexString(e.Hash.Span)), blocks.SelectMany(b => b.EventHashes).Select(Convert.ToHexString));
        Assert.Equal((3L, 250L), (digest.BlockNumber, digest.SealedEvents));
        Assert.True((await new LedgerAudit(node.DataSource).VerifyAsync(cancellationToken: Ct)).Ok);
    }

    [Fact]
    public async Task A_partial_block_waits_for_the_interval_but_a_full_one_is_sealed_at_once()
    {
        await using var db = await database.CreateDatabaseAsync(Ct);
        await using var node = await Node.StartAsync(db.ConnectionString);
        var sealer = new AuditSealer(node.DataSource, new AuditSealerOptions { BlockSize = 10 });
        await node.Store.AppendToStreamAsync(Events.NewStream(), ExpectedVersion.Any, Events.Many(4), Ct);

        Assert.Null(await sealer.SealNextAsync(sealPartial: false, Ct));

        await node.Store.AppendToStreamAsync(Events.NewStream(), ExpectedVersion.Any, Events.Many(8), Ct);
        var full = await WaitForBlockAsync(() => sealer.SealNextAsync(sealPartial: false, Ct));
        Assert.Equal(10, full.EventCount);
        var partial = await WaitForBlockAsync(() => sealer.SealNextAsync(sealPartial: true, Ct));
        Assert.Equal(2, partial.EventCount);
        Assert.Null(await sealer.SealNextAsync(sealPartial: true, Ct));
    }

    [Fact]
    public async Task The_running_sealer_seals_a_partial_block_after_the_seal_interval()
    {
        await using var db = await database.CreateDatabaseAsync(Ct);
        await using var node = await Node.StartAsync(db.ConnectionString);
        var sealer = new AuditSealer(node.DataSource, new AuditSealerOptions
        {
            BlockSize = 1000, SealInterval = TimeSpan.FromMilliseconds(200), PollInterval = TimeSpan.FromMilliseconds(50),
        });
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var running = sealer.RunAsync(stop.Token);

        await node.Store.AppendToStreamAsync(Events.NewStream(), ExpectedVersion.Any, Events.Many(3), Ct);
        var audit = new LedgerAudit(node.DataSource);
        var deadline = DateTime.UtcNow.AddSeconds(60);
        LedgerDigest? digest;
        while ((digest = await audit.GetDigestAsync(Ct)) is null && DateTime.UtcNow < deadline) await Task.Delay(50, Ct);

        await stop.CancelAsync();
        await running;
        Assert.NotNull(digest);
        Assert.Equal(3, digest.EventCount);
    }

    [Fact]
    public async Task Sealers_on_four_nodes_racing_with_writers_never_fork_the_chain_or_seal_an_event_twice()
    {
        await using var db = await database.CreateDatabaseAsync(Ct);
        var nodes = new List<Node>();
        for (var i = 0; i < 4; i++) nodes.Add(await Node.StartAsync(db.ConnectionString));
        try
        {
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(Ct);
            var sealers = nodes.Select(n => new AuditSealer(n.DataSource, new AuditSealerOptions
            {
                BlockSize = 7, SealInterval = TimeSpan.Zero, PollInterval = TimeSpan.FromMilliseconds(5),
            }).RunAsync(stop.Token)).ToArray();
            var writers = Enumerable.Range(0, 16).Select(w => Task.Run(async () =>
            {
                for (var i = 0; i < 15; i++)
                    await nodes[w % 4].Store.AppendToStreamAsync(Events.NewStream(), ExpectedVersion.Any, Events.Many(1 + (i % 3)), Ct);
            }, Ct)).ToArray();
            await Task.WhenAll(writers);
            var appended = await nodes[0].CountEventsAsync();

            await AuditHarness.SealEverythingAsync(nodes[0].DataSource, appended, blockSize: 7);
            await stop.CancelAsync();
            await Task.WhenAll(sealers);

            var report = await new LedgerAudit(nodes[0].DataSource).VerifyAsync(cancellationToken: Ct);
            Assert.True(report.Ok, report.FirstMismatch?.Message);
            Assert.Equal((appended, 0L), (report.SealedEvents, report.UnsealedEvents));
        }
        finally
        {
            foreach (var node in nodes) await node.DisposeAsync();
        }
    }

    [Fact]
    public async Task The_sealer_never_seals_past_the_feeds_head_and_seals_what_lies_beyond_once_the_head_moves()
    {
        await using var db = await database.CreateDatabaseAsync(Ct);
        // No high-water detection: the test moves the head itself, to the exact positions it wants to check.
        await using var node = await Node.StartAsync(db.ConnectionString, o => o.DetectHighWater = false);
        var sealer = new AuditSealer(node.DataSource, new AuditSealerOptions { BlockSize = 1000 });
        var appended = await node.Store.AppendToStreamAsync(Events.NewStream(), ExpectedVersion.Any, Events.Many(6), Ct);
        var positions = appended.Events.Select(e => e.Position).ToList();

        Assert.Empty(await sealer.SealAllAsync(Ct));
        await MoveHeadAsync(node, positions[3]);
        var first = Assert.Single(await sealer.SealAllAsync(Ct));
        await MoveHeadAsync(node, positions[5]);
        var second = Assert.Single(await sealer.SealAllAsync(Ct));

        Assert.Equal(positions[..4], first.Positions);
        Assert.Equal(positions[4..], second.Positions);
        Assert.Equal(first.ChainHash, second.PreviousChainHash);
        Assert.True((await new LedgerAudit(node.DataSource).VerifyAsync(cancellationToken: Ct)).Ok);
    }

    [Fact]
    public async Task An_event_whose_transaction_commits_late_is_sealed_after_it_commits_in_its_position_never_skipped()
    {
        await using var db = await database.CreateDatabaseAsync(Ct);
        await using var node = await Node.StartAsync(db.ConnectionString);
        var sealer = new AuditSealer(node.DataSource, new AuditSealerOptions { BlockSize = 1000 });
        var before = await node.Store.AppendToStreamAsync(Events.NewStream("EARLY"), ExpectedVersion.Any, Events.Many(2), Ct);
        await WaitForAsync(async () => await AuditHarness.HeadAsync(node.DataSource) >= before.Events[^1].Position, "the head reaches the first events");

        // A transaction draws its position through Marten and stays open while later appends commit.
        await using var connection = await node.DataSource.OpenConnectionAsync(Ct);
        var held = await connection.BeginTransactionAsync(Ct);
        var heldEvent = await HeldAppend.AppendAsync(node, held, Events.NewStream("HELD"));
        var after = await node.Store.AppendToStreamAsync(Events.NewStream("LATE"), ExpectedVersion.Any, Events.Many(3), Ct);
        Assert.True(heldEvent.Position > before.Events[^1].Position && heldEvent.Position < after.Events[0].Position);

        // Seal while the later events are committed and the held one is not, until Marten's detector has judged the gap
        // below the held position stuck (its HighWaterStuckGap row) and has since re-decided to hold the mark at least
        // three times more than a second after that (its stale threshold is 0.5 s), all in the database's own time: the
        // head, and so every block, must stay below the held position throughout.
        var sealedWhileHeld = new List<SealedBlock>();
        var decisions = new HashSet<DateTimeOffset>();
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (decisions.Count < 3)
        {
            Assert.True(DateTime.UtcNow < deadline, "Marten's detector never judged the gap below the held transaction within a minute");
            sealedWhileHeld.AddRange(await sealer.SealAllAsync(Ct));
            Assert.True(await AuditHarness.HeadAsync(node.DataSource) < heldEvent.Position, "the head passed a transaction that may still commit");
            if (await HoldDecisionAsync(node, heldEvent.Position - 1) is { } decided) decisions.Add(decided);
            await Task.Delay(50, Ct);
        }

        Assert.Equal(before.Events.Select(e => e.Position), sealedWhileHeld.SelectMany(b => b.Positions));

        await held.CommitAsync(Ct);
        await AuditHarness.SealEverythingAsync(node.DataSource, 6);

        var sealedPositions = (await new LedgerAudit(node.DataSource).ReadBlocksAsync(Ct).ToListAsync(Ct)).SelectMany(b => b.Positions).ToList();
        Assert.Equal([.. before.Events.Select(e => e.Position), heldEvent.Position, .. after.Events.Select(e => e.Position)], sealedPositions);
        var report = await new LedgerAudit(node.DataSource).VerifyAsync(cancellationToken: Ct);
        Assert.True(report.Ok, report.FirstMismatch?.Message);
    }

    [Fact]
    public async Task A_rolled_back_append_leaves_a_hole_the_sealer_passes_once_the_head_does()
    {
        await using var db = await database.CreateDatabaseAsync(Ct);
        await using var node = await Node.StartAsync(db.ConnectionString);
        var before = await node.Store.AppendToStreamAsync(Events.NewStream(), ExpectedVersion.Any, Events.Many(2), Ct);
        await using (var connection = await node.DataSource.OpenConnectionAsync(Ct))
        {
            var rolledBack = await connection.BeginTransactionAsync(Ct);
            var hole = await HeldAppend.AppendAsync(node, rolledBack, Events.NewStream("GONE"));
            await rolledBack.RollbackAsync(Ct);
            Assert.True(hole.Position > before.Events[^1].Position);
        }

        var after = await node.Store.AppendToStreamAsync(Events.NewStream(), ExpectedVersion.Any, Events.Many(2), Ct);
        await AuditHarness.SealEverythingAsync(node.DataSource, 4);

        var sealedPositions = (await new LedgerAudit(node.DataSource).ReadBlocksAsync(Ct).ToListAsync(Ct)).SelectMany(b => b.Positions);
        Assert.Equal(before.Events.Concat(after.Events).Select(e => e.Position), sealedPositions);
    }

    /// <summary>When Marten's detector last kept the mark at <paramref name="mark"/> more than a second after judging the gap above it stuck.</summary>
    private static async Task<DateTimeOffset?> HoldDecisionAsync(Node node, long mark)
    {
        await using var command = node.DataSource.CreateCommand(
            """
            select m.last_updated
            from ledger.mt_event_progression m join ledger.mt_event_progression g on g.name = 'HighWaterStuckGap'
            where m.name = 'HighWaterMark' and m.last_seq_id = @mark and g.last_seq_id = @mark
              and m.last_updated > g.last_updated + interval '1 second'
            """);
        command.Parameters.AddWithValue("mark", mark);
        return await command.ExecuteScalarAsync(Ct) is DateTime at ? new DateTimeOffset(at, TimeSpan.Zero) : null;
    }

    private static async Task MoveHeadAsync(Node node, long position)
    {
        await using var command = node.DataSource.CreateCommand("select ledger.mt_mark_event_progression('HighWaterMark', @position)");
        command.Parameters.AddWithValue("position", position);
        await command.ExecuteNonQueryAsync(Ct);
    }

    private static async Task WaitForAsync(Func<Task<bool>> condition, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"not within a minute: {what}");
            await Task.Delay(20, Ct);
        }
    }

    private static async Task<SealedBlock> WaitForBlockAsync(Func<Task<SealedBlock?>> seal)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            if (await seal() is { } block) return block;
            Assert.True(DateTime.UtcNow < deadline, "no block was sealed within a minute");
            await Task.Delay(50, Ct);
        }
    }
}
