using System.Buffers;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Ledger.EventStore.Hashing;
using Npgsql;

namespace Ledger.EventStore.Audit;

/// <summary>
/// The ledger as a file: NDJSON, one header line, the events in position order, the blocks in chain order, and an end
/// line with the counts and a SHA-256 over every line before it. The format is specified in docs/auditing.md so that an
/// export can be verified with no server running, and loaded into an empty ledger (<see cref="LedgerImport"/>).
/// </summary>
public static class LedgerExport
{
    /// <summary>The value of the header's <c>format</c> member.</summary>
    public const string Format = "ledger-export";

    /// <summary>
    /// The format version this code writes: 2, events in position order with no transaction id (the feed's order since
    /// the store moved to Marten). It reads 2 and 1 (the own store's exports, whose events carry the transaction id that
    /// gave their feed order).
    /// </summary>
    public const int FormatVersion = 2;

    /// <summary>The format version of the own store's exports, which this code still reads and imports.</summary>
    public const int OwnStoreFormatVersion = 1;

    /// <summary>
    /// Writes the ledger (or the positions <paramref name="fromPosition"/>..<paramref name="toPosition"/>) from one
    /// consistent snapshot. A range export includes the blocks that lie wholly inside it, and the previous hash of each
    /// stream's first event when the stream began before the range.
    /// </summary>
    /// <returns>The numbers of events and blocks written.</returns>
    public static async Task<(long Events, long Blocks)> WriteAsync(
        NpgsqlDataSource dataSource, Stream output, long? fromPosition = null, long? toPosition = null, TimeProvider? time = null,
        IProgress<long>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(dataSource);
        ArgumentNullException.ThrowIfNull(output);
        var complete = fromPosition is null && toPosition is null;
        var from = fromPosition ?? 1;
        var to = toPosition ?? long.MaxValue;

        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        // One snapshot for events and blocks: a block sealed during the export must not name events the export lacks.
        await using var transaction = await AuditSql.BeginSnapshotAsync(connection, cancellationToken);

        var writer = new LineWriter(output);
        writer.Write(w =>
        {
            w.WriteString("format", Format);
            w.WriteNumber("formatVersion", FormatVersion);
            w.WriteString("exportedAt", EventHasher.FormatTimestamp((time ?? TimeProvider.System).GetUtcNow()));
            w.WriteBoolean("complete", complete);
            if (fromPosition is { } f) w.WriteNumber("fromPosition", f); else w.WriteNull("fromPosition");
            if (toPosition is { } t) w.WriteNumber("toPosition", t); else w.WriteNull("toPosition");
        });

        var streamsSeen = new HashSet<string>(StringComparer.Ordinal);
        long events = 0;
        await foreach (var page in AuditSql.ReadEventPagesAsync(connection, transaction, from - 1, to, cancellationToken))
        {
            foreach (var recorded in page)
            {
                byte[]? chainedOnto = null;
                if (streamsSeen.Add(recorded.StreamId) && recorded.StreamVersion > 1)
                    chainedOnto = await PreviousHashAsync(connection, transaction, recorded, cancellationToken);
                writer.Write(w => WriteEvent(w, recorded, chainedOnto));
                events++;
            }

            await writer.FlushAsync(cancellationToken);
            progress?.Report(events);
        }

        long blocks = 0;
        await foreach (var block in AuditSql.ReadAllBlocksAsync(connection, transaction, cancellationToken))
        {
            if (!complete && block.Positions.Any(p => p < from || p > to)) continue;
            writer.Write(w => WriteBlock(w, block));
            if (++blocks % 100 == 0) await writer.FlushAsync(cancellationToken);
        }

        await transaction.CommitAsync(cancellationToken);
        writer.WriteEnd(events, blocks);
        await writer.FlushAsync(cancellationToken);
        return (events, blocks);
    }

    /// <summary>
    /// Verifies an export file with no server: every event hash and stream chain, every block and the chain of blocks,
    /// the file's counts and checksum, and (if given) the history up to an earlier digest.
    /// </summary>
    public static async Task<VerificationReport> VerifyAsync(
        Stream input, LedgerDigestReference? digest = null, IProgress<long>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(input);
        var reader = new ExportReader(input);
        var header = await reader.ReadHeaderAsync(cancellationToken);
        var verifier = new LedgerVerifier(digest, partial: !header.Complete);
        long events = 0;
        await foreach (var item in reader.ReadItemsAsync(cancellationToken))
        {
            if (item.Event is { } recorded)
            {
                verifier.AddEvent(recorded, item.ChainedOnto);
                if (++events % 5000 == 0) progress?.Report(events);
            }
            else if (item.Block is { } block)
            {
                verifier.AddBlock(block);
            }
        }

        progress?.Report(events);
        return verifier.Complete();
    }

    internal static void WriteEvent(Utf8JsonWriter w, RecordedEvent e, byte[]? chainedOnto)
    {
        w.WriteString("kind", "event");
        w.WriteNumber("position", e.Position);
        w.WriteString("eventId", e.EventId);
        w.WriteString("streamId", e.StreamId);
        w.WriteNumber("streamVersion", e.StreamVersion);
        w.WriteString("type", e.Type);
        w.WriteString("occurredAt", EventHasher.FormatTimestamp(e.OccurredAt));
        w.WriteString("recordedAt", EventHasher.FormatTimestamp(e.RecordedAt));
        w.WriteString("hash", Convert.ToHexStringLower(e.Hash.Span));
        if (chainedOnto is not null) w.WriteString("previousHash", Convert.ToHexStringLower(chainedOnto));
        w.WritePropertyName("data");
        w.WriteRawValue(e.Data, skipInputValidation: true);
        w.WritePropertyName("metadata");
        w.WriteRawValue(e.MetadataJson, skipInputValidation: true);
    }

    internal static void WriteBlock(Utf8JsonWriter w, SealedBlock b)
    {
        w.WriteString("kind", "block");
        w.WriteNumber("number", b.Number);
        w.WriteString("sealedAt", EventHasher.FormatTimestamp(b.SealedAt));
        w.WriteString("merkleRoot", Convert.ToHexStringLower(b.MerkleRoot));
        if (b.PreviousChainHash is null) w.WriteNull("previousChainHash");
        else w.WriteString("previousChainHash", Convert.ToHexStringLower(b.PreviousChainHash));
        w.WriteString("chainHash", Convert.ToHexStringLower(b.ChainHash));
        w.WriteStartArray("positions");
        foreach (var p in b.Positions) w.WriteNumberValue(p);
        w.WriteEndArray();
        w.WriteStartArray("eventHashes");
        foreach (var h in b.EventHashes) w.WriteStringValue(Convert.ToHexStringLower(h));
        w.WriteEndArray();
    }

    private static async Task<byte[]?> PreviousHashAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, RecordedEvent e, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(AuditSql.PreviousHash, connection, transaction);
        command.Parameters.AddWithValue("stream_id", e.StreamId);
        command.Parameters.AddWithValue("version", e.StreamVersion - 1);
        return await command.ExecuteScalarAsync(cancellationToken) as byte[];
    }

    /// <summary>Writes one JSON object per line and keeps the SHA-256 of everything written for the end line.</summary>
    private sealed class LineWriter(Stream output)
    {
        private readonly ArrayBufferWriter<byte> _buffer = new(64 * 1024);
        private readonly IncrementalHash _checksum = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        private readonly Utf8JsonWriter _json = new(Stream.Null);

        public void Write(Action<Utf8JsonWriter> members)
        {
            var start = _buffer.WrittenCount;
            _json.Reset(_buffer);
            _json.WriteStartObject();
            members(_json);
            _json.WriteEndObject();
            _json.Flush();
            _buffer.Write("\n"u8);
            _checksum.AppendData(_buffer.WrittenSpan[start..]);
        }

        public void WriteEnd(long events, long blocks)
        {
            var checksum = Convert.ToHexStringLower(_checksum.GetHashAndReset());
            _json.Reset(_buffer);
            _json.WriteStartObject();
            _json.WriteString("kind", "end");
            _json.WriteNumber("events", events);
            _json.WriteNumber("blocks", blocks);
            _json.WriteString("sha256", checksum);
            _json.WriteEndObject();
            _json.Flush();
            _buffer.Write("\n"u8);
        }

        public async Task FlushAsync(CancellationToken cancellationToken)
        {
            await output.WriteAsync(_buffer.WrittenMemory, cancellationToken);
            _buffer.ResetWrittenCount();
        }
    }
}

/// <summary>A file that is not a readable ledger export (named line and reason).</summary>
public sealed class ExportFormatException(string message) : Exception(message);

/// <summary>The header of an export file.</summary>
/// <param name="Complete">Whether it holds the whole ledger (only those can be imported).</param>
/// <param name="ExportedAt">When it was written.</param>
/// <param name="FormatVersion">2, or 1 for an export of the own store (its events carry transaction ids).</param>
public sealed record ExportHeader(bool Complete, DateTimeOffset ExportedAt, int FormatVersion);

/// <summary>One line of an export after the header: an event (with the hash it chains onto, in a range export) or a block.</summary>
/// <param name="Event">The event, for event lines.</param>
/// <param name="ChainedOnto">For a range export, the previous hash of a stream's first event in the file.</param>
/// <param name="Block">The block, for block lines.</param>
/// <param name="TransactionId">
/// In a version 1 export (the own store), the id of the transaction that committed the event: the source's feed order was
/// (transaction id, position). Null in version 2, whose feed order is position order.
/// </param>
public sealed record ExportItem(RecordedEvent? Event, byte[]? ChainedOnto, SealedBlock? Block, ulong? TransactionId);

/// <summary>Reads an export line by line, checking its structure, counts and checksum; throws <see cref="ExportFormatException"/>.</summary>
public sealed class ExportReader
{
    private readonly StreamReader _reader;
    private readonly IncrementalHash _checksum = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    private long _line;
    private int _formatVersion;

    /// <summary>Reads from a (decompressed) stream.</summary>
    public ExportReader(Stream input) => _reader = new StreamReader(input, new UTF8Encoding(false, throwOnInvalidBytes: true), false, 1 << 16);

    /// <summary>Reads and checks the header line.</summary>
    public async Task<ExportHeader> ReadHeaderAsync(CancellationToken cancellationToken = default)
    {
        using var doc = await NextAsync(cancellationToken) ?? throw Error("the file is empty");
        var root = doc.RootElement;
        if (!root.TryGetProperty("format", out var format) || format.ValueKind != JsonValueKind.String || format.GetString() != LedgerExport.Format)
            throw Error($"this is not a ledger export (no \"format\": \"{LedgerExport.Format}\" header)");
        if (!root.TryGetProperty("formatVersion", out var version) || version.ValueKind != JsonValueKind.Number
            || !version.TryGetInt32(out var formatVersion) || formatVersion is not (LedgerExport.FormatVersion or LedgerExport.OwnStoreFormatVersion))
            throw Error($"unsupported format version (this tool reads versions {LedgerExport.OwnStoreFormatVersion} and {LedgerExport.FormatVersion})");
        _formatVersion = formatVersion;
        return new ExportHeader(Bool(root, "complete"), Time(root, "exportedAt"), formatVersion);
    }

    /// <summary>Reads the events and blocks up to the end line, then checks the counts and the checksum.</summary>
    public async IAsyncEnumerable<ExportItem> ReadItemsAsync([System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        long events = 0, blocks = 0;
        while (true)
        {
            var lineStart = _line + 1;
            var text = await _reader.ReadLineAsync(cancellationToken) ?? throw Error($"the file ends at line {_line} without its end line: it is truncated");
            _line++;
            JsonDocument doc;
            try
            {
                doc = JsonDocument.Parse(text);
            }
            catch (JsonException e)
            {
                throw Error($"line {lineStart} is not JSON: {e.Message}");
            }

            using (doc)
            {
                var root = doc.RootElement;
                var kind = root.ValueKind == JsonValueKind.Object && root.TryGetProperty("kind", out var k) ? k.GetString() : null;
                switch (kind)
                {
                    case "event":
                        _checksum.AppendData(Encoding.UTF8.GetBytes(text + "\n"));
                        events++;
                        yield return ParseEvent(root);
                        break;
                    case "block":
                        _checksum.AppendData(Encoding.UTF8.GetBytes(text + "\n"));
                        blocks++;
                        yield return new ExportItem(null, null, ParseBlock(root), null);
                        break;
                    case "end":
                        var expected = Convert.ToHexStringLower(_checksum.GetHashAndReset());
                        if (Long(root, "events") != events || Long(root, "blocks") != blocks)
                            throw Error($"the end line counts {Long(root, "events")} events and {Long(root, "blocks")} blocks, the file holds {events} and {blocks}");
                        if (Str(root, "sha256") != expected)
                            throw Error("the checksum in the end line does not match the file: it was changed or damaged");
                        if (await _reader.ReadLineAsync(cancellationToken) is { Length: > 0 })
                            throw Error("there is content after the end line");
                        yield break;
                    default:
                        throw Error($"line {lineStart} has no known \"kind\" (event, block or end)");
                }
            }
        }
    }

    private ExportItem ParseEvent(JsonElement e)
    {
        try
        {
            // Version 1 events must name their transaction: it is the source's feed order, which the import seals by.
            ulong? transactionId = null;
            if (_formatVersion == LedgerExport.OwnStoreFormatVersion)
            {
                if (!e.TryGetProperty("transactionId", out var xid) || xid.ValueKind != JsonValueKind.String
                    || !ulong.TryParse(xid.GetString(), NumberStyles.None, CultureInfo.InvariantCulture, out var parsed))
                    throw Error($"line {_line} is a version 1 event without its transactionId (a string of digits), which gave its feed order");
                transactionId = parsed;
            }

            var recorded = new RecordedEvent(
                Long(e, "position"), e.GetProperty("eventId").GetGuid(), Str(e, "streamId"), Long(e, "streamVersion"), Str(e, "type"),
                Raw(e, "data"), Raw(e, "metadata"), Time(e, "occurredAt"), Time(e, "recordedAt"), Hash(e, "hash"));
            var chainedOnto = e.TryGetProperty("previousHash", out var p) && p.ValueKind == JsonValueKind.String ? Convert.FromHexString(p.GetString()!) : null;
            return new ExportItem(recorded, chainedOnto, null, transactionId);
        }
        catch (Exception error) when (error is KeyNotFoundException or InvalidOperationException or FormatException or OverflowException)
        {
            throw Error($"line {_line} is not a valid event: {error.Message}");
        }
    }

    private SealedBlock ParseBlock(JsonElement b)
    {
        try
        {
            var positions = b.GetProperty("positions").EnumerateArray().Select(p => p.GetInt64()).ToArray();
            var hashes = b.GetProperty("eventHashes").EnumerateArray().Select(h => Convert.FromHexString(h.GetString()!)).ToArray();
            var previous = b.GetProperty("previousChainHash");
            return new SealedBlock(Long(b, "number"), positions, hashes, Hash(b, "merkleRoot"),
                previous.ValueKind == JsonValueKind.Null ? null : Convert.FromHexString(previous.GetString()!), Hash(b, "chainHash"), Time(b, "sealedAt"));
        }
        catch (Exception error) when (error is KeyNotFoundException or InvalidOperationException or FormatException or ArgumentException)
        {
            throw Error($"line {_line} is not a valid block: {error.Message}");
        }
    }

    private async Task<JsonDocument?> NextAsync(CancellationToken cancellationToken)
    {
        var text = await _reader.ReadLineAsync(cancellationToken);
        if (text is null) return null;
        _line++;
        try
        {
            var doc = JsonDocument.Parse(text);
            _checksum.AppendData(Encoding.UTF8.GetBytes(text + "\n"));
            return doc;
        }
        catch (JsonException e)
        {
            throw Error($"line {_line} is not JSON: {e.Message}");
        }
    }

    private ExportFormatException Error(string reason) => new($"Not a readable ledger export: {reason}.");

    private static string Str(JsonElement e, string name) => e.GetProperty(name).GetString() ?? throw new FormatException($"{name} is null");
    private static long Long(JsonElement e, string name) => e.GetProperty(name).GetInt64();
    private static bool Bool(JsonElement e, string name) => e.GetProperty(name).GetBoolean();
    private static string Raw(JsonElement e, string name) => e.GetProperty(name).GetRawText();

    private static byte[] Hash(JsonElement e, string name)
    {
        var hash = Convert.FromHexString(Str(e, name));
        return hash.Length == MerkleTree.HashLength ? hash : throw new FormatException($"{name} is not a SHA-256 hash");
    }

    private static DateTimeOffset Time(JsonElement e, string name) =>
        DateTimeOffset.ParseExact(Str(e, name), EventHasher.TimestampFormat, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal);
}
