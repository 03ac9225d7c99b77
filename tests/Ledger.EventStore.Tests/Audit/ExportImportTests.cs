using System.Text;
using Ledger.EventStore.Audit;
using Ledger.EventStore.Tests.Support;
using Ledger.Testing;

namespace Ledger.EventStore.Tests.Audit;

public sealed class ExportImportTests(DatabaseFixture database) : IClassFixture<DatabaseFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Export_import_into_a_fresh_database_and_verify_round_trip_equal_including_hashes_and_blocks()
    {
        await using var ledger = await SealedLedger.CreateAsync(database);
        var exported = await ExportAsync(ledger.DataSource);

        await using var target = await database.CreateDatabaseAsync(Ct);
        await using var node = await Node.StartAsync(target.ConnectionString);
        var result = await LedgerImport.ImportAsync(node.DataSource, new MemoryStream(exported), cancellationToken: Ct);

        Assert.Equal((60L, 6L, 3L, 0L), (result.Events, result.Streams, result.Blocks, result.BlocksSealed));
        var report = await new LedgerAudit(node.DataSource).VerifyAsync(ledger.Digest, cancellationToken: Ct);
        Assert.True(report.Ok, report.FirstMismatch?.Message);
        Assert.True(report.Digest!.Matches);
        var reexported = await ExportAsync(node.DataSource);
        Assert.Equal(WithoutHeaderAndChecksum(exported), WithoutHeaderAndChecksum(reexported));
        for (var s = 0; s < 6; s++)
        {
            var original = ledger.Stream(s);
            var imported = await node.Store.ReadStreamAsync(original[0].StreamId, cancellationToken: Ct);
            Assert.Equal(original.Select(e => (e.EventId, e.Position, e.StreamVersion, Convert.ToHexString(e.Hash.Span), e.Data, e.OccurredAt, e.RecordedAt)),
                imported.Select(e => (e.EventId, e.Position, e.StreamVersion, Convert.ToHexString(e.Hash.Span), e.Data, e.OccurredAt, e.RecordedAt)));
        }
    }

    [Fact]
    public async Task The_export_file_verifies_with_no_database_and_against_an_earlier_digest()
    {
        await using var ledger = await SealedLedger.CreateAsync(database);
        var exported = await ExportAsync(ledger.DataSource);

        var report = await LedgerExport.VerifyAsync(new MemoryStream(exported), ledger.Digest, cancellationToken: Ct);

        Assert.True(report.Ok, report.FirstMismatch?.Message);
        Assert.Equal((60L, 3L, true), (report.EventsChecked, report.BlocksChecked, report.Digest!.Matches));
    }

    [Fact]
    public async Task An_edited_export_is_caught_by_its_checksum_and_with_the_checksum_fixed_by_the_hashes()
    {
        await using var ledger = await SealedLedger.CreateAsync(database);
        var text = Encoding.UTF8.GetString(await ExportAsync(ledger.DataSource));
        var edited = text.Replace("\"n\": 2}", "\"n\": 3}", StringComparison.Ordinal);
        Assert.NotEqual(text, edited);

        var byChecksum = await Assert.ThrowsAsync<ExportFormatException>(() => LedgerExport.VerifyAsync(new MemoryStream(Encoding.UTF8.GetBytes(edited)), cancellationToken: Ct));
        Assert.Contains("checksum", byChecksum.Message, StringComparison.Ordinal);

        var report = await LedgerExport.VerifyAsync(new MemoryStream(Encoding.UTF8.GetBytes(WithChecksumRecomputed(edited))), cancellationToken: Ct);
        Assert.False(report.Ok);
        Assert.Equal("event-hash", report.FirstMismatch!.Kind);
    }

    [Fact]
    public async Task Importing_into_a_ledger_that_has_history_is_refused_and_changes_nothing()
    {
        await using var ledger = await SealedLedger.CreateAsync(database);
        var exported = await ExportAsync(ledger.DataSource);
        await using var target = await database.CreateDatabaseAsync(Ct);
        await using var node = await Node.StartAsync(target.ConnectionString);
        await node.Store.AppendToStreamAsync(Events.NewStream(), ExpectedVersion.Any, Events.Many(1), Ct);

        var error = await Assert.ThrowsAsync<LedgerNotEmptyException>(() => LedgerImport.ImportAsync(node.DataSource, new MemoryStream(exported), cancellationToken: Ct));

        Assert.Contains("not empty", error.Message, StringComparison.Ordinal);
        Assert.Equal(1, await node.CountEventsAsync());
    }

    [Theory]
    [InlineData("truncated")]
    [InlineData("tampered")]
    [InlineData("not-json")]
    [InlineData("range")]
    public async Task A_damaged_altered_or_partial_file_is_refused_and_the_ledger_stays_empty(string damage)
    {
        await using var ledger = await SealedLedger.CreateAsync(database);
        var text = Encoding.UTF8.GetString(await ExportAsync(ledger.DataSource, damage == "range" ? 10 : null));
        var lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var file = damage switch
        {
            "truncated" => string.Join('\n', lines.Take(lines.Length / 2)) + "\n",
            "tampered" => WithChecksumRecomputed(text.Replace("\"n\": 2}", "\"n\": 3}", StringComparison.Ordinal)),
            "not-json" => string.Join('\n', lines.Take(5)) + "\n{\"kind\":\"event\",\n" + string.Join('\n', lines.Skip(5)) + "\n",
            _ => text,
        };
        await using var target = await database.CreateDatabaseAsync(Ct);
        await using var node = await Node.StartAsync(target.ConnectionString);

        var error = await Record.ExceptionAsync(() => LedgerImport.ImportAsync(node.DataSource, new MemoryStream(Encoding.UTF8.GetBytes(file)), cancellationToken: Ct));

        Assert.True(error is ExportFormatException or ExportVerificationException, error?.ToString());
        Assert.Equal(0, await node.CountEventsAsync());
        await using var blocks = node.DataSource.CreateCommand("select count(*) from ledger.blocks");
        Assert.Equal(0L, await blocks.ExecuteScalarAsync(Ct));
    }

    [Fact]
    public async Task Events_the_source_had_not_sealed_are_sealed_on_import_and_the_imported_ledger_goes_on_appending_and_sealing()
    {
        await using var ledger = await SealedLedger.CreateAsync(database);
        var stream = ledger.Stream(0)[0].StreamId;
        AppendResult tail;
        await using (var source = await Node.StartAsync(ledger.ConnectionString))
            tail = await source.Store.AppendToStreamAsync(stream, ExpectedVersion.Exactly(10), Events.Many(3), Ct);
        var exported = await ExportAsync(ledger.DataSource);

        await using var target = await database.CreateDatabaseAsync(Ct);
        await using var node = await Node.StartAsync(target.ConnectionString);
        var result = await LedgerImport.ImportAsync(node.DataSource, new MemoryStream(exported), cancellationToken: Ct);
        Assert.Equal((63L, 3L, 1L), (result.Events, result.Blocks, result.BlocksSealed));
        var sealedOnImport = (await new LedgerAudit(node.DataSource).ReadBlocksAsync(Ct).ToListAsync(Ct))[^1];
        Assert.Equal(tail.Events.Select(e => e.Position), sealedOnImport.Positions);

        var appended = await node.Store.AppendToStreamAsync(stream, ExpectedVersion.Exactly(13), Events.Many(2), Ct);
        var other = await node.Store.AppendToStreamAsync(Events.NewStream(), ExpectedVersion.NoStream, Events.Many(1), Ct);
        Assert.True(appended.Events[0].Position > 63, "positions continue after the imported ones");
        await AuditHarness.SealEverythingAsync(node.DataSource, 66);
        var report = await new LedgerAudit(node.DataSource).VerifyAsync(ledger.Digest, cancellationToken: Ct);
        Assert.True(report.Ok, report.FirstMismatch?.Message);
        Assert.Equal((66L, 5L), (report.SealedEvents, report.BlocksChecked));
        var feed = await node.Store.ReadFeedAsync(FeedCursor.Start, 100, cancellationToken: Ct);
        Assert.Equal(66, feed.Events.Count);
        // New blocks seal in position order, onto the imported chain.
        var newest = (await new LedgerAudit(node.DataSource).ReadBlocksAsync(Ct).ToListAsync(Ct))[^1];
        Assert.Equal(appended.Events.Concat(other.Events).Select(e => e.Position).Order(), newest.Positions);
    }

    [Fact]
    public async Task An_export_is_format_2_in_position_order_without_transaction_ids()
    {
        await using var ledger = await SealedLedger.CreateAsync(database);

        var lines = Encoding.UTF8.GetString(await ExportAsync(ledger.DataSource)).Split('\n', StringSplitOptions.RemoveEmptyEntries);

        using (var header = System.Text.Json.JsonDocument.Parse(lines[0])) Assert.Equal(2, header.RootElement.GetProperty("formatVersion").GetInt32());
        var positions = lines.Where(l => l.StartsWith("{\"kind\":\"event\"", StringComparison.Ordinal))
            .Select(l => System.Text.Json.JsonDocument.Parse(l).RootElement.GetProperty("position").GetInt64()).ToList();
        Assert.Equal(60, positions.Count);
        Assert.Equal(positions.Order(), positions);
        Assert.DoesNotContain(lines, l => l.Contains("transactionId", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_version_1_event_without_its_transaction_id_is_refused_because_its_feed_order_is_unknown()
    {
        var v1 = Encoding.UTF8.GetString(OwnStoreExport.Load().File);
        var damaged = WithChecksumRecomputed(System.Text.RegularExpressions.Regex.Replace(v1, "\"transactionId\":\"\\d+\",", "", System.Text.RegularExpressions.RegexOptions.None, TimeSpan.FromSeconds(10)));

        var error = await Assert.ThrowsAsync<ExportFormatException>(() => LedgerExport.VerifyAsync(new MemoryStream(Encoding.UTF8.GetBytes(damaged)), cancellationToken: Ct));

        Assert.Contains("transactionId", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_range_export_verifies_on_its_own_from_the_hashes_its_streams_chain_onto()
    {
        await using var ledger = await SealedLedger.CreateAsync(database);

        var file = await ExportAsync(ledger.DataSource, from: 26, to: 60);
        var report = await LedgerExport.VerifyAsync(new MemoryStream(file), cancellationToken: Ct);

        Assert.True(report.Ok, report.FirstMismatch?.Message);
        Assert.Equal(35L, report.EventsChecked);
    }

    private static async Task<byte[]> ExportAsync(Npgsql.NpgsqlDataSource dataSource, long? from = null, long? to = null)
    {
        using var output = new MemoryStream();
        await LedgerExport.WriteAsync(dataSource, output, from, to, cancellationToken: Ct);
        return output.ToArray();
    }

    private static string[] WithoutHeaderAndChecksum(byte[] file) =>
        Encoding.UTF8.GetString(file).Split('\n').Skip(1)
            .Select(line => System.Text.RegularExpressions.Regex.Replace(line, "\"sha256\":\"[0-9a-f]+\"", ""))
            .ToArray();

    private static string WithChecksumRecomputed(string text)
    {
        var lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var body = string.Concat(lines[..^1].Select(l => l + "\n"));
        var checksum = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes(body)));
        var end = System.Text.RegularExpressions.Regex.Replace(lines[^1], "\"sha256\":\"[0-9a-f]+\"", $"\"sha256\":\"{checksum}\"");
        return body + end + "\n";
    }
}
