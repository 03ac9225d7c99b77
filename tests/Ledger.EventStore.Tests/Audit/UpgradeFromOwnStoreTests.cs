using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using Ledger.EventStore.Audit;
using Ledger.EventStore.Tests.Support;
using Ledger.Testing;

namespace Ledger.EventStore.Tests.Audit;

/// <summary>
/// Issue 12, "Upgrade without loss": an export written by the own-store release (Data/own-store-v1.ndjson, made with
/// that release, see Data/README.md) imports into the Marten ledger, and a digest taken before the upgrade
/// (Data/own-store-v1.digest.json) still verifies the imported ledger; tampering after the import is still caught.
/// </summary>
public sealed class UpgradeFromOwnStoreTests(DatabaseFixture database) : IClassFixture<DatabaseFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;
    private static readonly OwnStoreExport Source = OwnStoreExport.Load();

    [Fact]
    public async Task The_own_stores_export_verifies_with_this_release_against_the_digest_taken_before_the_upgrade()
    {
        var report = await LedgerExport.VerifyAsync(new MemoryStream(Source.File), Source.Digest, cancellationToken: Ct);

        Assert.True(report.Ok, report.FirstMismatch?.Message);
        Assert.Equal((169L, 6L, 8L, 117L, 52L, true), (report.EventsChecked, report.StreamsChecked, report.BlocksChecked, report.SealedEvents, report.UnsealedEvents, report.Digest!.Matches));
    }

    [Fact]
    public async Task Imported_into_Marten_it_verifies_against_the_old_digest_with_every_position_hash_and_block_kept()
    {
        await using var target = await database.CreateDatabaseAsync(Ct);
        await using var node = await Node.StartAsync(target.ConnectionString);

        var result = await LedgerImport.ImportAsync(node.DataSource, new MemoryStream(Source.File), cancellationToken: Ct);

        Assert.Equal((169L, 6L, 8L, 1L), (result.Events, result.Streams, result.Blocks, result.BlocksSealed));
        var report = await new LedgerAudit(node.DataSource).VerifyAsync(Source.Digest, cancellationToken: Ct);
        Assert.True(report.Ok, report.FirstMismatch?.Message);
        Assert.Equal((169L, 6L, 9L, 169L, 0L, true), (report.EventsChecked, report.StreamsChecked, report.BlocksChecked, report.SealedEvents, report.UnsealedEvents, report.Digest!.Matches));

        // Every event at its old position with its old hash, in Marten's table, and the old blocks as they were.
        var imported = await new LedgerAudit(node.DataSource).ReadEventsAsync(cancellationToken: Ct).ToListAsync(Ct);
        Assert.Equal(Source.Events.Select(e => (e.Position, e.EventId, e.Hash)), imported.Select(e => (e.Position, e.EventId, Convert.ToHexStringLower(e.Hash.Span))));
        var blocks = await new LedgerAudit(node.DataSource).ReadBlocksAsync(Ct).ToListAsync(Ct);
        Assert.Equal(Source.Blocks.Select(b => (b.Number, b.ChainHash)), blocks.Take(8).Select(b => (b.Number, Convert.ToHexStringLower(b.ChainHash))));

        // The source's unsealed tail, sealed in the source's feed order (transaction id, position), which is not position order.
        var tailOrder = Source.Events.Where(e => !Source.SealedPositions.Contains(e.Position))
            .OrderBy(e => e.TransactionId).ThenBy(e => e.Position).Select(e => e.Position).ToList();
        Assert.NotEqual(tailOrder.Order(), tailOrder);
        Assert.Equal(tailOrder, blocks[8].Positions);
        Assert.Equal(blocks[7].ChainHash, blocks[8].PreviousChainHash);
    }

    [Fact]
    public async Task The_imported_rows_are_Martens_own_streams_and_events_and_the_feed_and_sequence_continue_after_them()
    {
        await using var target = await database.CreateDatabaseAsync(Ct);
        // As `ledger import` runs it: no service on the new database yet, so no high-water detection.
        await using var node = await Node.StartAsync(target.ConnectionString, o => o.DetectHighWater = false);

        await LedgerImport.ImportAsync(node.DataSource, new MemoryStream(Source.File), cancellationToken: Ct);

        var expectedStreams = Source.Events.GroupBy(e => e.StreamId).OrderBy(g => g.Key, StringComparer.Ordinal)
            .Select(g => $"{g.Key} {g.Max(e => e.StreamVersion)} *DEFAULT* False {g.Min(e => e.RecordedAt):O} {g.MaxBy(e => e.StreamVersion)!.RecordedAt:O}");
        Assert.Equal(expectedStreams, await QueryAsync(node,
            "select id, version, tenant_id, is_archived, created, timestamp from ledger.mt_streams order by id",
            r => $"{r.GetString(0)} {r.GetInt64(1)} {r.GetString(2)} {r.GetBoolean(3)} {r.GetFieldValue<DateTimeOffset>(4):O} {r.GetFieldValue<DateTimeOffset>(5):O}"));

        var first = Source.Events[0];
        var row = Assert.Single(await QueryAsync(node,
            "select seq_id, id, stream_id, version, type, timestamp, tenant_id, is_archived, user_name, correlation_id, headers ->> 'hash', headers ->> 'occurredAt', headers -> 'metadata' = @metadata::jsonb from ledger.mt_events where seq_id = @p",
            r => (r.GetInt64(0), r.GetGuid(1), r.GetString(2), r.GetInt64(3), r.GetString(4), r.GetFieldValue<DateTimeOffset>(5), r.GetString(6), r.GetBoolean(7),
                r.GetString(8), r.GetString(9), r.GetString(10), r.GetString(11), r.GetBoolean(12)),
            ("p", first.Position), ("metadata", first.Metadata)));
        Assert.Equal((first.Position, first.EventId, first.StreamId, first.StreamVersion, first.Type, first.RecordedAt, "*DEFAULT*", false,
            first.Actor, first.CorrelationId, first.Hash, first.OccurredAtText, true), row);

        // The source's holes (81, 151) are no gaps to wait on: the import marks the feed's head at its last position.
        var last = Source.Events.Max(e => e.Position);
        Assert.Equal([last], await QueryAsync(node, "select last_value from ledger.mt_events_sequence", r => r.GetInt64(0)));
        Assert.Equal(last, await node.Store.GetFeedHeadAsync(Ct));
        var feed = await node.Store.ReadFeedAsync(FeedCursor.Start, 1000, cancellationToken: Ct);
        Assert.Equal(Source.Events.Select(e => e.Position), feed.Events.Select(e => e.Position));

        // A service starting on it keeps the feed whole (Marten's detector may first go back to a hole and then skip it).
        await using var service = await Node.StartAsync(target.ConnectionString);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        deadline.CancelAfter(TimeSpan.FromSeconds(60));
        await service.Store.WaitForFeedAsync(last, deadline.Token);
        var again = await service.Store.ReadFeedAsync(FeedCursor.Start, 1000, cancellationToken: Ct);
        Assert.Equal(Source.Events.Select(e => e.Position), again.Events.Select(e => e.Position));
    }

    [Fact]
    public async Task Tampering_after_the_import_is_caught_and_the_old_digest_tells_sealed_history_from_the_tail()
    {
        await using var target = await database.CreateDatabaseAsync(Ct);
        await using var node = await Node.StartAsync(target.ConnectionString);
        await LedgerImport.ImportAsync(node.DataSource, new MemoryStream(Source.File), cancellationToken: Ct);
        var audit = new LedgerAudit(node.DataSource);
        var tailEvent = Source.Events.First(e => e.Position == 153);
        var sealedEvent = Source.Events.First(e => e.Position == 83);
        Assert.DoesNotContain(tailEvent.Position, Source.SealedPositions);
        Assert.Contains(sealedEvent.Position, Source.SealedPositions);

        // An event the source had not sealed: the chain and the block the import sealed catch it; the old digest, which
        // only covers what was sealed before the upgrade, does not speak to it.
        await AuditHarness.TamperAsync(target.ConnectionString,
            "update ledger.mt_events set data = jsonb_set(data, '{serial}', '\"MP-2025-999999\"') where seq_id = @p", ("p", tailEvent.Position));
        var afterTailTamper = await audit.VerifyAsync(Source.Digest, cancellationToken: Ct);
        Assert.False(afterTailTamper.Ok);
        Assert.Equal(("event-hash", tailEvent.Position), (afterTailTamper.FirstMismatch!.Kind, afterTailTamper.FirstMismatch.Position));
        Assert.Contains(afterTailTamper.Mismatches, m => m.Kind == "block-event-hash" && m.Position == tailEvent.Position && m.BlockNumber == 9);
        Assert.True(afterTailTamper.Digest!.Matches);

        // An event sealed before the upgrade: the old digest proves it changed.
        await AuditHarness.TamperAsync(target.ConnectionString,
            "update ledger.mt_events set data = jsonb_set(data, '{serial}', '\"MP-2025-999999\"') where seq_id = @p", ("p", sealedEvent.Position));
        var afterSealedTamper = await audit.VerifyAsync(Source.Digest, cancellationToken: Ct);
        Assert.Contains(afterSealedTamper.Mismatches, m => m.Kind == "event-hash" && m.Position == sealedEvent.Position);
        Assert.Contains(afterSealedTamper.Mismatches, m => m.Kind == "block-event-hash" && m.Position == sealedEvent.Position && m.BlockNumber == 6);
        Assert.Contains(afterSealedTamper.Mismatches, m => m.Kind == "digest-mismatch" && m.BlockNumber == 8);
        Assert.False(afterSealedTamper.Digest!.Matches);
    }

    [Fact]
    public async Task Exported_again_it_is_format_2_in_position_order_and_still_verifies_against_the_old_digest()
    {
        await using var target = await database.CreateDatabaseAsync(Ct);
        await using var node = await Node.StartAsync(target.ConnectionString);
        await LedgerImport.ImportAsync(node.DataSource, new MemoryStream(Source.File), cancellationToken: Ct);

        using var output = new MemoryStream();
        await LedgerExport.WriteAsync(node.DataSource, output, cancellationToken: Ct);
        var again = output.ToArray();

        var lines = Encoding.UTF8.GetString(again).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        using (var header = JsonDocument.Parse(lines[0])) Assert.Equal(2, header.RootElement.GetProperty("formatVersion").GetInt32());
        Assert.DoesNotContain(lines, l => l.Contains("\"transactionId\"", StringComparison.Ordinal));
        var report = await LedgerExport.VerifyAsync(new MemoryStream(again), Source.Digest, cancellationToken: Ct);
        Assert.True(report.Ok, report.FirstMismatch?.Message);
        Assert.Equal((169L, 9L, 169L, true), (report.EventsChecked, report.BlocksChecked, report.SealedEvents, report.Digest!.Matches));

        // The events and the old blocks, line for line, are the source's less its transaction ids.
        var sourceLines = Encoding.UTF8.GetString(Source.File).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(sourceLines[1..^1].Select(l => System.Text.RegularExpressions.Regex.Replace(l, "\"transactionId\":\"\\d+\",", "")),
            lines[1..(1 + 169 + 8)]);
    }

    private static async Task<List<T>> QueryAsync<T>(Node node, string sql, Func<Npgsql.NpgsqlDataReader, T> read, params (string Name, object Value)[] parameters)
    {
        await using var command = node.DataSource.CreateCommand(sql);
        foreach (var (name, value) in parameters) command.Parameters.AddWithValue(name, value);
        await using var reader = await command.ExecuteReaderAsync(Ct);
        var rows = new List<T>();
        while (await reader.ReadAsync(Ct)) rows.Add(read(reader));
        return rows;
    }
}

/// <summary>The own store's export and digest, read with plain JSON (not the code under test).</summary>
internal sealed class OwnStoreExport
{
    public required byte[] File { get; init; }
    public required LedgerDigestReference Digest { get; init; }
    public required IReadOnlyList<SourceEvent> Events { get; init; }
    public required IReadOnlyList<(long Number, string ChainHash)> Blocks { get; init; }
    public required IReadOnlySet<long> SealedPositions { get; init; }

    public static OwnStoreExport Load([CallerFilePath] string thisFile = "")
    {
        var data = Path.Combine(Path.GetDirectoryName(thisFile)!, "Data");
        var file = System.IO.File.ReadAllBytes(Path.Combine(data, "own-store-v1.ndjson"));
        using var digest = JsonDocument.Parse(System.IO.File.ReadAllBytes(Path.Combine(data, "own-store-v1.digest.json")));
        var events = new List<SourceEvent>();
        var blocks = new List<(long, string)>();
        var sealedPositions = new HashSet<long>();
        foreach (var line in Encoding.UTF8.GetString(file).Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            using var doc = JsonDocument.Parse(line);
            var e = doc.RootElement;
            switch (e.TryGetProperty("kind", out var kind) ? kind.GetString() : null)
            {
                case "event":
                    var metadata = e.GetProperty("metadata");
                    events.Add(new SourceEvent(
                        e.GetProperty("position").GetInt64(), ulong.Parse(e.GetProperty("transactionId").GetString()!, System.Globalization.CultureInfo.InvariantCulture),
                        e.GetProperty("eventId").GetGuid(), e.GetProperty("streamId").GetString()!, e.GetProperty("streamVersion").GetInt64(),
                        e.GetProperty("type").GetString()!, e.GetProperty("recordedAt").GetDateTimeOffset(), e.GetProperty("occurredAt").GetString()!,
                        e.GetProperty("hash").GetString()!, metadata.GetRawText(), metadata.GetProperty("actor").GetString()!,
                        metadata.GetProperty("correlationId").GetString()!));
                    break;
                case "block":
                    blocks.Add((e.GetProperty("number").GetInt64(), e.GetProperty("chainHash").GetString()!));
                    foreach (var p in e.GetProperty("positions").EnumerateArray()) sealedPositions.Add(p.GetInt64());
                    break;
            }
        }

        return new OwnStoreExport
        {
            File = file,
            Digest = new LedgerDigestReference(digest.RootElement.GetProperty("blockNumber").GetInt64(), Convert.FromHexString(digest.RootElement.GetProperty("chainHash").GetString()!)),
            Events = events,
            Blocks = blocks,
            SealedPositions = sealedPositions,
        };
    }
}

internal sealed record SourceEvent(
    long Position, ulong TransactionId, Guid EventId, string StreamId, long StreamVersion, string Type, DateTimeOffset RecordedAt, string OccurredAtText,
    string Hash, string Metadata, string Actor, string CorrelationId);
