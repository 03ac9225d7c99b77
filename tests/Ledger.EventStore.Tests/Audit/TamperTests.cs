using Ledger.EventStore.Audit;
using Ledger.EventStore.Tests.Support;
using Ledger.Testing;

namespace Ledger.EventStore.Tests.Audit;

/// <summary>
/// A database superuser with the append-only triggers switched off changes history in Marten's tables; verification must
/// notice and say exactly what changed, and a digest taken before the change must prove it.
/// </summary>
public sealed class TamperTests(DatabaseFixture database) : IClassFixture<DatabaseFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task An_untouched_ledger_verifies_against_its_digest()
    {
        await using var ledger = await SealedLedger.CreateAsync(database);

        var report = await ledger.VerifyAsync(ledger.Digest);

        Assert.True(report.Ok, report.FirstMismatch?.Message);
        Assert.Equal((60L, 6L, 3L, 60L, 0L), (report.EventsChecked, report.StreamsChecked, report.BlocksChecked, report.SealedEvents, report.UnsealedEvents));
        Assert.True(report.Digest!.Matches);
    }

    [Fact]
    public async Task An_edited_payload_is_named_by_stream_version_and_position_and_the_digest_proves_it()
    {
        await using var ledger = await SealedLedger.CreateAsync(database);
        var victim = ledger.Stream(2)[4];

        await AuditHarness.TamperAsync(ledger.ConnectionString,
            """update ledger.mt_events set data = jsonb_set(data, '{n}', '999') where seq_id = @p""", ("p", victim.Position));

        var report = await ledger.VerifyAsync(ledger.Digest);
        Assert.False(report.Ok);
        var first = report.FirstMismatch!;
        Assert.Equal("event-hash", first.Kind);
        Assert.Equal((victim.StreamId, victim.StreamVersion, victim.Position, victim.EventId), (first.StreamId, first.StreamVersion!.Value, first.Position!.Value, first.EventId!.Value));
        Assert.Equal(Convert.ToHexStringLower(victim.Hash.Span), first.Expected);
        Assert.Contains(report.Mismatches, m => m.Kind == "block-event-hash" && m.Position == victim.Position);
        Assert.False(report.Digest!.Matches);
        Assert.Single(report.Mismatches, m => m.Kind == "event-hash");
    }

    [Fact]
    public async Task A_deleted_event_is_named_as_the_missing_version_of_its_stream_and_the_missing_position_of_its_block()
    {
        await using var ledger = await SealedLedger.CreateAsync(database);
        var victim = ledger.Stream(4)[3];

        await AuditHarness.TamperAsync(ledger.ConnectionString, "delete from ledger.mt_events where seq_id = @p", ("p", victim.Position));

        var report = await ledger.VerifyAsync(ledger.Digest);
        Assert.False(report.Ok);
        var gap = report.Mismatches.First(m => m.Kind == "stream-version-gap");
        Assert.Equal((victim.StreamId, victim.StreamVersion + 1), (gap.StreamId, gap.StreamVersion!.Value));
        Assert.Contains($"version {victim.StreamVersion} is missing", gap.Message, StringComparison.Ordinal);
        Assert.Contains(report.Mismatches, m => m.Kind == "block-missing-event" && m.Position == victim.Position);
        Assert.False(report.Digest!.Matches);
    }

    [Fact]
    public async Task Deleting_the_last_event_of_a_stream_is_caught_by_the_streams_record_and_the_block()
    {
        await using var ledger = await SealedLedger.CreateAsync(database);
        var victim = ledger.Stream(1)[^1];

        await AuditHarness.TamperAsync(ledger.ConnectionString, "delete from ledger.mt_events where seq_id = @p", ("p", victim.Position));

        var report = await ledger.VerifyAsync();
        Assert.Contains(report.Mismatches, m => m.Kind == "stream-record" && m.StreamId == victim.StreamId);
        Assert.Contains(report.Mismatches, m => m.Kind == "block-missing-event" && m.Position == victim.Position);
    }

    [Fact]
    public async Task Two_events_of_different_streams_swapped_in_the_global_order_are_named_by_position()
    {
        await using var ledger = await SealedLedger.CreateAsync(database);
        var a = ledger.Stream(0)[5];
        var b = ledger.Stream(5)[2];

        await AuditHarness.TamperAsync(ledger.ConnectionString,
            """
            update ledger.mt_events set seq_id = -seq_id where seq_id in (@a, @b);
            update ledger.mt_events set seq_id = case seq_id when -@a then @b else @a end where seq_id in (-@a, -@b);
            """, ("a", a.Position), ("b", b.Position));

        var report = await ledger.VerifyAsync(ledger.Digest);
        Assert.False(report.Ok);
        var moved = report.Mismatches.Where(m => m.Kind == "block-event-hash").ToList();
        Assert.Equal([Math.Min(a.Position, b.Position), Math.Max(a.Position, b.Position)], moved.Select(m => m.Position!.Value).Order());
        Assert.Contains(moved, m => m.Position == a.Position && m.StreamId == b.StreamId && m.StreamVersion == b.StreamVersion);
        Assert.False(report.Digest!.Matches);
    }

    [Fact]
    public async Task Two_events_of_one_stream_swapped_are_named_as_out_of_order()
    {
        await using var ledger = await SealedLedger.CreateAsync(database);
        var (first, second) = (ledger.Stream(3)[2], ledger.Stream(3)[7]);

        await AuditHarness.TamperAsync(ledger.ConnectionString,
            """
            update ledger.mt_events set seq_id = -seq_id where seq_id in (@a, @b);
            update ledger.mt_events set seq_id = case seq_id when -@a then @b else @a end where seq_id in (-@a, -@b);
            """, ("a", first.Position), ("b", second.Position));

        var report = await ledger.VerifyAsync();
        Assert.False(report.Ok);
        Assert.Equal(first.StreamId, report.FirstMismatch!.StreamId);
        Assert.Contains(report.Mismatches, m => m.Kind == "stream-order" && m.StreamId == first.StreamId);
    }

    [Fact]
    public async Task An_edited_block_is_named_and_the_digest_proves_it()
    {
        await using var ledger = await SealedLedger.CreateAsync(database);

        await AuditHarness.TamperAsync(ledger.ConnectionString,
            "update ledger.blocks set merkle_root = sha256('forged'::bytea) where block_number = 2");

        var report = await ledger.VerifyAsync(ledger.Digest);
        Assert.False(report.Ok);
        Assert.Equal(("block-merkle-root", 2L), (report.FirstMismatch!.Kind, report.FirstMismatch.BlockNumber!.Value));
        Assert.Contains(report.Mismatches, m => m.Kind == "block-chain-hash" && m.BlockNumber == 2);
    }

    [Fact]
    public async Task History_rewritten_consistently_passes_every_internal_check_and_only_the_digest_catches_it()
    {
        await using var ledger = await SealedLedger.CreateAsync(database);
        var victim = ledger.Stream(2)[9];

        // The thorough attacker: edit an event, recompute its hash, and re-seal every block exactly as it was (same
        // positions, same sealing times) around the forged hash.
        var forged = Hashing.EventHasher.Hash(victim.StreamId, victim.StreamVersion, victim.EventId, victim.Type, """{"n":999}""", victim.MetadataJson,
            victim.OccurredAt, victim.RecordedAt, ledger.Stream(2)[8].Hash.Span);
        var original = await new LedgerAudit(ledger.DataSource).ReadBlocksAsync(Ct).ToListAsync(Ct);
        SealedBlockHeader? tip = null;
        var reforged = new List<SealedBlock>();
        foreach (var block in original)
        {
            var leaves = block.Positions.Select((p, i) => (p, p == victim.Position ? forged : block.EventHashes[i])).ToList();
            var again = SealedBlock.Seal(tip, leaves, block.SealedAt);
            reforged.Add(again);
            tip = again.Header;
        }

        await AuditHarness.TamperAsync(ledger.ConnectionString,
            """
            update ledger.mt_events set data = '{"n":999}', headers = jsonb_set(headers, '{hash}', to_jsonb(@hash::text)) where seq_id = @p;
            delete from ledger.blocks;
            """, ("hash", Convert.ToHexStringLower(forged)), ("p", victim.Position));
        foreach (var block in reforged)
        {
            await AuditHarness.TamperAsync(ledger.ConnectionString,
                """
                insert into ledger.blocks (block_number, positions, event_hashes, merkle_root, previous_chain_hash, chain_hash, sealed_at)
                values (@n, @positions, @hashes, @root, @previous, @chain, @at)
                """,
                ("n", block.Number), ("positions", block.Positions.ToArray()), ("hashes", block.EventHashes.SelectMany(h => h).ToArray()),
                ("root", block.MerkleRoot), ("previous", (object?)block.PreviousChainHash ?? DBNull.Value), ("chain", block.ChainHash), ("at", block.SealedAt));
        }

        var withoutDigest = await ledger.VerifyAsync();
        var withDigest = await ledger.VerifyAsync(ledger.Digest);

        Assert.True(withoutDigest.Ok, withoutDigest.FirstMismatch?.Message);
        Assert.False(withDigest.Ok);
        Assert.Equal("digest-mismatch", withDigest.FirstMismatch!.Kind);
        Assert.False(withDigest.Digest!.Matches);
    }

    [Theory]
    [InlineData("data", """update ledger.mt_events set data = jsonb_set(data, '{n}', '0') where seq_id = @p""")]
    [InlineData("metadata in the headers", """update ledger.mt_events set headers = jsonb_set(headers, '{metadata,correlationId}', '"forged"') where seq_id = @p""")]
    [InlineData("occurred-at in the headers", """update ledger.mt_events set headers = jsonb_set(headers, '{occurredAt}', '"2024-01-01T00:00:00.000000Z"') where seq_id = @p""")]
    [InlineData("recorded-at (Marten's timestamp)", "update ledger.mt_events set timestamp = timestamp - interval '1 day' where seq_id = @p")]
    [InlineData("type", "update ledger.mt_events set type = 'thing-undone.v1' where seq_id = @p")]
    [InlineData("event id", "update ledger.mt_events set id = gen_random_uuid() where seq_id = @p")]
    public async Task Every_hashed_value_of_a_Marten_row_is_covered(string what, string sql)
    {
        await using var ledger = await SealedLedger.CreateAsync(database);
        var victim = ledger.Stream(3)[6];

        await AuditHarness.TamperAsync(ledger.ConnectionString, sql, ("p", victim.Position));

        var report = await ledger.VerifyAsync(ledger.Digest);
        Assert.False(report.Ok, what);
        Assert.Equal(("event-hash", victim.Position), (report.FirstMismatch!.Kind, report.FirstMismatch.Position));
        Assert.Contains(report.Mismatches, m => m.Kind == "block-event-hash" && m.Position == victim.Position);
        Assert.False(report.Digest!.Matches);
    }

    [Fact]
    public async Task An_event_relabelled_as_a_tombstone_disappears_from_the_feed_but_not_from_verification()
    {
        await using var ledger = await SealedLedger.CreateAsync(database);
        var victim = ledger.Stream(0)[4];

        await AuditHarness.TamperAsync(ledger.ConnectionString, "update ledger.mt_events set type = 'tombstone' where seq_id = @p", ("p", victim.Position));

        Assert.DoesNotContain((await new LedgerAudit(ledger.DataSource).ReadEventsAsync(cancellationToken: Ct).ToListAsync(Ct)), e => e.Position == victim.Position);
        var report = await ledger.VerifyAsync(ledger.Digest);
        Assert.Equal(("event-hash", victim.Position), (report.FirstMismatch!.Kind, report.FirstMismatch.Position));
        Assert.Equal(60L, report.EventsChecked);
        Assert.False(report.Digest!.Matches);
    }

    [Fact]
    public async Task Damaged_headers_are_named_and_verification_goes_on_to_the_end()
    {
        await using var ledger = await SealedLedger.CreateAsync(database);
        var (noHash, badTime) = (ledger.Stream(1)[2], ledger.Stream(4)[8]);

        await AuditHarness.TamperAsync(ledger.ConnectionString,
            """
            update ledger.mt_events set headers = headers - 'hash' where seq_id = @a;
            update ledger.mt_events set headers = jsonb_set(headers, '{occurredAt}', '"last Tuesday"') where seq_id = @b;
            """, ("a", noHash.Position), ("b", badTime.Position));

        var report = await ledger.VerifyAsync(ledger.Digest);
        Assert.Equal(60L, report.EventsChecked);
        var unreadable = report.Mismatches.Where(m => m.Kind == "event-content").ToList();
        Assert.Equal([noHash.Position, badTime.Position], unreadable.Select(m => m.Position!.Value).Order());
        Assert.Contains("hash", unreadable.Single(m => m.Position == noHash.Position).Message, StringComparison.Ordinal);
        Assert.Contains("occurredAt", unreadable.Single(m => m.Position == badTime.Position).Message, StringComparison.Ordinal);
        Assert.Contains(report.Mismatches, m => m.Kind == "block-event-hash" && m.Position == noHash.Position);
        Assert.False(report.Digest!.Matches);
    }

    [Theory]
    [InlineData("user_name = 'mallory'")]
    [InlineData("correlation_id = 'forged'")]
    [InlineData("causation_id = 'forged'")]
    [InlineData("tenant_id = 'elsewhere'")]
    [InlineData("is_archived = true")]
    public async Task Marten_columns_that_copy_the_metadata_or_hide_an_event_from_Marten_are_checked(string change)
    {
        await using var ledger = await SealedLedger.CreateAsync(database);
        var victim = ledger.Stream(5)[1];

        await AuditHarness.TamperAsync(ledger.ConnectionString, $"update ledger.mt_events set {change} where seq_id = @p", ("p", victim.Position));

        var report = await ledger.VerifyAsync(ledger.Digest);
        Assert.Equal(("event-columns", victim.Position), (report.Mismatches.Single().Kind, report.Mismatches.Single().Position));
        Assert.Contains(change.Split(' ')[0], report.Mismatches.Single().Message, StringComparison.Ordinal);
        Assert.True(report.Digest!.Matches, "the hashed history itself is unchanged");
    }

    [Fact]
    public async Task A_stream_archived_or_moved_to_another_tenant_in_Martens_streams_table_is_named()
    {
        await using var ledger = await SealedLedger.CreateAsync(database);
        var (archived, moved) = (ledger.Stream(2)[0].StreamId, ledger.Stream(3)[0].StreamId);

        await AuditHarness.TamperAsync(ledger.ConnectionString,
            "update ledger.mt_streams set is_archived = true where id = @a; update ledger.mt_streams set tenant_id = 'elsewhere' where id = @b",
            ("a", archived), ("b", moved));

        var report = await ledger.VerifyAsync();
        Assert.Equal(2, report.Mismatches.Count);
        Assert.All(report.Mismatches, m => Assert.Equal("stream-record", m.Kind));
        Assert.Contains(report.Mismatches, m => m.StreamId == archived && m.Message.Contains("archived", StringComparison.Ordinal));
        Assert.Contains(report.Mismatches, m => m.StreamId == moved && m.Message.Contains("'elsewhere'", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_streams_version_moved_up_is_named()
    {
        await using var ledger = await SealedLedger.CreateAsync(database);
        var stream = ledger.Stream(1)[0].StreamId;

        await AuditHarness.TamperAsync(ledger.ConnectionString, "update ledger.mt_streams set version = version + 1 where id = @s", ("s", stream));

        var report = await ledger.VerifyAsync(ledger.Digest);
        Assert.Equal(("stream-record", stream), (report.Mismatches.Single().Kind, report.Mismatches.Single().StreamId));
        Assert.Contains("recorded at version 11 but its events end at version 10", report.Mismatches.Single().Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_digest_of_a_block_that_no_longer_exists_fails()
    {
        await using var ledger = await SealedLedger.CreateAsync(database);

        await AuditHarness.TamperAsync(ledger.ConnectionString, "delete from ledger.blocks where block_number = 3");

        var report = await ledger.VerifyAsync(ledger.Digest);
        Assert.False(report.Ok);
        Assert.Equal("digest-block-missing", report.FirstMismatch!.Kind);
    }
}

/// <summary>Six streams of ten events, sealed in blocks of 25, with the digest an auditor took afterwards.</summary>
internal sealed class SealedLedger : IAsyncDisposable
{
    private readonly TestDatabase _database;
    private readonly Node _node;
    private readonly List<IReadOnlyList<RecordedEvent>> _streams;

    private SealedLedger(TestDatabase database, Node node, List<IReadOnlyList<RecordedEvent>> streams, LedgerDigestReference digest) =>
        (_database, _node, _streams, Digest) = (database, node, streams, digest);

    public LedgerDigestReference Digest { get; }
    public string ConnectionString => _database.ConnectionString;
    public Npgsql.NpgsqlDataSource DataSource => _node.DataSource;
    public IReadOnlyList<RecordedEvent> Stream(int index) => _streams[index];

    public static async Task<SealedLedger> CreateAsync(DatabaseFixture fixture)
    {
        var ct = TestContext.Current.CancellationToken;
        var database = await fixture.CreateDatabaseAsync(ct);
        var node = await Node.StartAsync(database.ConnectionString);
        var ids = Enumerable.Range(0, 6).Select(_ => Events.NewStream()).ToList();
        // Interleaved, so every block holds events of several streams.
        for (var round = 0; round < 5; round++)
            foreach (var id in ids) await node.Store.AppendToStreamAsync(id, ExpectedVersion.Any, Events.Many(2), ct);
        var digest = await AuditHarness.SealEverythingAsync(node.DataSource, 60, blockSize: 25);
        var streams = new List<IReadOnlyList<RecordedEvent>>();
        foreach (var id in ids) streams.Add(await node.Store.ReadStreamAsync(id, cancellationToken: ct));
        return new SealedLedger(database, node, streams, digest.Reference);
    }

    public Task<VerificationReport> VerifyAsync(LedgerDigestReference? digest = null) =>
        new LedgerAudit(_node.DataSource).VerifyAsync(digest, cancellationToken: TestContext.Current.CancellationToken);

    public async ValueTask DisposeAsync()
    {
        await _node.DisposeAsync();
        await _database.DisposeAsync();
    }
}
