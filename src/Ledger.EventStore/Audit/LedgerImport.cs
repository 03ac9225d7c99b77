using System.Text.Json;
using Ledger.EventStore.Schema;
using Npgsql;
using NpgsqlTypes;

namespace Ledger.EventStore.Audit;

/// <summary>
/// Loads a complete export (format 2, or 1 from the own store) into an empty ledger, in one transaction, writing Marten's
/// tables as their owner: each chunk of events is preceded by its streams' <c>mt_streams</c> rows and then copied into
/// <c>mt_events</c> with binary COPY, keeping every id, position (<c>seq_id</c>), hash and block. The file is verified
/// while it loads, and any fault (a non-empty ledger, a damaged or altered file) rolls everything back. Events the source
/// had not sealed yet are sealed here, in the source's feed order, continuing the chain exactly as the source's sealer
/// would have: (transaction id, position) for a version 1 file, position for version 2.
/// </summary>
public static class LedgerImport
{
    private const int ChunkSize = 2000;
    private static readonly IReadOnlyList<string> Prepare = SqlStatements.Split(SqlResources.Read(typeof(LedgerImport).Assembly, "import_prepare.sql"));
    private static readonly string Streams = SqlResources.Read(typeof(LedgerImport).Assembly, "import_streams.sql");
    private static readonly IReadOnlyList<string> Finish = SqlStatements.Split(SqlResources.Read(typeof(LedgerImport).Assembly, "import_finish.sql"));

    private const string CopyEvents =
        "copy ledger.mt_events (seq_id, id, stream_id, version, data, type, timestamp, tenant_id, mt_dotnet_type, correlation_id, " +
        "causation_id, headers, user_name, is_archived) from stdin (format binary)";

    /// <summary>Imports an export (already decompressed) into the empty ledger behind <paramref name="dataSource"/>.</summary>
    /// <param name="dataSource">The ledger's database, connected as the owner of its tables (an operator's act, not the service's).</param>
    /// <param name="input">The export.</param>
    /// <param name="sealing">The block size for sealing the source's unsealed events.</param>
    /// <param name="time">The clock that stamps the blocks sealed here.</param>
    /// <param name="progress">Events loaded so far.</param>
    /// <param name="eventTypes">
    /// The store's event type map (<see cref="EventStoreOptions.EventTypes"/>): fills <c>mt_dotnet_type</c> as Marten's own
    /// appends do, so Marten's readers resolve imported events as they resolve appended ones. Null or empty: left empty.
    /// </param>
    /// <param name="cancellationToken">Cancels the import (nothing is changed).</param>
    /// <returns>The verification of what was loaded (always <c>Ok</c>; otherwise an exception is thrown and nothing changes).</returns>
    /// <exception cref="LedgerNotEmptyException">The ledger already holds events, streams or blocks.</exception>
    /// <exception cref="ExportFormatException">The file is not a complete, intact export.</exception>
    /// <exception cref="ExportVerificationException">The file reads but its history does not verify.</exception>
    public static async Task<ImportResult> ImportAsync(
        NpgsqlDataSource dataSource, Stream input, AuditSealerOptions? sealing = null, TimeProvider? time = null, IProgress<long>? progress = null,
        IReadOnlyDictionary<Type, string>? eventTypes = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(dataSource);
        ArgumentNullException.ThrowIfNull(input);
        var blockSize = (sealing ?? new AuditSealerOptions()).BlockSize;
        var dotNetTypeNames = Appending.MartenEvents.DotNetTypeNames(eventTypes ?? new Dictionary<Type, string>());
        var reader = new ExportReader(input);
        var header = await reader.ReadHeaderAsync(cancellationToken);
        if (!header.Complete) throw new ExportFormatException("Not importable: this export holds a range of positions, not the whole ledger.");

        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await using (var lockCommand = new NpgsqlCommand(Prepare[0], connection, transaction)) await lockCommand.ExecuteNonQueryAsync(cancellationToken);
        await using (var countCommand = new NpgsqlCommand(Prepare[1], connection, transaction))
        await using (var counts = await countCommand.ExecuteReaderAsync(cancellationToken))
        {
            await counts.ReadAsync(cancellationToken);
            var (events, streams, blocks) = (counts.GetInt64(0), counts.GetInt64(1), counts.GetInt64(2));
            if (events + streams + blocks > 0) throw new LedgerNotEmptyException(events, streams, blocks);
        }

        var verifier = new LedgerVerifier();
        var loadedEvents = new List<(long Position, ulong? TransactionId, byte[] Hash)>();
        var sealedBlocks = new List<SealedBlock>();
        var chunk = new List<RecordedEvent>(ChunkSize);
        long loaded = 0;
        var items = reader.ReadItemsAsync(cancellationToken).GetAsyncEnumerator(cancellationToken);
        try
        {
            while (await items.MoveNextAsync())
            {
                if (items.Current.Block is { } block)
                {
                    sealedBlocks.Add(block);
                    break;
                }

                var e = items.Current.Event!;
                // Marten's sequence starts at 1; a position below it could never have been drawn and would wedge the feed.
                if (e.Position < 1) throw new ExportFormatException($"Not importable: event {e.EventId} has position {e.Position}; positions start at 1. Nothing was changed.");
                verifier.AddEvent(e);
                loadedEvents.Add((e.Position, items.Current.TransactionId, e.Hash.ToArray()));
                chunk.Add(e);
                if (chunk.Count < ChunkSize) continue;
                await WriteChunkAsync(connection, transaction, chunk, dotNetTypeNames, cancellationToken);
                loaded += chunk.Count;
                chunk.Clear();
                progress?.Report(loaded);
            }

            await WriteChunkAsync(connection, transaction, chunk, dotNetTypeNames, cancellationToken);
            loaded += chunk.Count;

            while (await items.MoveNextAsync())
            {
                if (items.Current.Block is not { } block) throw new ExportFormatException("Not a readable ledger export: an event follows the blocks.");
                sealedBlocks.Add(block);
            }
        }
        finally
        {
            await items.DisposeAsync();
        }

        foreach (var block in sealedBlocks) verifier.AddBlock(block);
        var report = verifier.Complete();
        if (!report.Ok) throw new ExportVerificationException(report);

        // The source's unsealed tail, sealed in the source's feed order onto the last imported block: the own store's
        // feed ran in (transaction id, position) order, as its file records; since then it runs in position order.
        var sealedPositions = new HashSet<long>(sealedBlocks.SelectMany(b => b.Positions));
        var tail = loadedEvents.Where(e => !sealedPositions.Contains(e.Position))
            .OrderBy(e => e.TransactionId ?? 0).ThenBy(e => e.Position)
            .Select(e => (e.Position, e.Hash)).ToList();
        var tip = sealedBlocks.Count > 0 ? sealedBlocks[^1].Header : null;
        var now = (time ?? TimeProvider.System).GetUtcNow();
        var newBlocks = tail.Chunk(blockSize).Select(part =>
        {
            var block = SealedBlock.Seal(tip, part, now);
            tip = block.Header;
            return block;
        }).ToList();

        await using (var copy = await connection.BeginBinaryImportAsync(
            "copy ledger.blocks (block_number, positions, event_hashes, merkle_root, previous_chain_hash, chain_hash, sealed_at) from stdin (format binary)",
            cancellationToken))
        {
            foreach (var block in sealedBlocks.Concat(newBlocks))
            {
                await copy.StartRowAsync(cancellationToken);
                await copy.WriteAsync(block.Number, NpgsqlDbType.Bigint, cancellationToken);
                await copy.WriteAsync(block.Positions.ToArray(), NpgsqlDbType.Array | NpgsqlDbType.Bigint, cancellationToken);
                await copy.WriteAsync(AuditSql.Pack(block.EventHashes), NpgsqlDbType.Bytea, cancellationToken);
                await copy.WriteAsync(block.MerkleRoot, NpgsqlDbType.Bytea, cancellationToken);
                if (block.PreviousChainHash is null) await copy.WriteNullAsync(cancellationToken);
                else await copy.WriteAsync(block.PreviousChainHash, NpgsqlDbType.Bytea, cancellationToken);
                await copy.WriteAsync(block.ChainHash, NpgsqlDbType.Bytea, cancellationToken);
                await copy.WriteAsync(block.SealedAt, NpgsqlDbType.TimestampTz, cancellationToken);
            }

            await copy.CompleteAsync(cancellationToken);
        }

        var maxPosition = loadedEvents.Count > 0 ? loadedEvents.Max(e => e.Position) : 0;
        // With no events there is no sequence to move: setval would skip number 1 and leave a hole for nothing.
        foreach (var statement in loadedEvents.Count > 0 ? Finish : Finish.Skip(1))
        {
            await using var command = new NpgsqlCommand(statement, connection, transaction);
            command.Parameters.AddWithValue("max_position", maxPosition);
            await command.ExecuteNonQueryAsync(cancellationToken);
        }

        await transaction.CommitAsync(cancellationToken);
        progress?.Report(loaded);
        return new ImportResult(loaded, report.StreamsChecked, sealedBlocks.Count, newBlocks.Count);
    }

    /// <summary>Writes one chunk: the streams it touches (mt_events' foreign key needs them first), then its events by binary COPY.</summary>
    private static async Task WriteChunkAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, List<RecordedEvent> chunk, Dictionary<string, string> dotNetTypeNames,
        CancellationToken cancellationToken)
    {
        if (chunk.Count == 0) return;
        var streams = chunk.GroupBy(e => e.StreamId, StringComparer.Ordinal)
            .Select(g => (Id: g.Key, Last: g.MaxBy(e => e.StreamVersion)!, FirstRecordedAt: g.Min(e => e.RecordedAt)))
            .ToList();
        try
        {
            await using (var command = new NpgsqlCommand(Streams, connection, transaction))
            {
                command.Parameters.AddWithValue("stream_ids", streams.Select(s => s.Id).ToArray());
                command.Parameters.AddWithValue("versions", streams.Select(s => s.Last.StreamVersion).ToArray());
                command.Parameters.AddWithValue("first_recorded_ats", streams.Select(s => s.FirstRecordedAt).ToArray());
                command.Parameters.AddWithValue("last_recorded_ats", streams.Select(s => s.Last.RecordedAt).ToArray());
                await command.ExecuteNonQueryAsync(cancellationToken);
            }

            await using var copy = await connection.BeginBinaryImportAsync(CopyEvents, cancellationToken);
            foreach (var e in chunk)
            {
                var metadata = ReadMetadata(e);
                await copy.StartRowAsync(cancellationToken);
                await copy.WriteAsync(e.Position, NpgsqlDbType.Bigint, cancellationToken);
                await copy.WriteAsync(e.EventId, NpgsqlDbType.Uuid, cancellationToken);
                await copy.WriteAsync(e.StreamId, NpgsqlDbType.Varchar, cancellationToken);
                await copy.WriteAsync(e.StreamVersion, NpgsqlDbType.Bigint, cancellationToken);
                await copy.WriteAsync(e.Data, NpgsqlDbType.Jsonb, cancellationToken);
                await copy.WriteAsync(e.Type, NpgsqlDbType.Varchar, cancellationToken);
                // Explicit: the column's default in Marten's schema is a constant, not the time of the insert (0006, Q3).
                await copy.WriteAsync(e.RecordedAt, NpgsqlDbType.TimestampTz, cancellationToken);
                await copy.WriteAsync("*DEFAULT*", NpgsqlDbType.Varchar, cancellationToken);
                await WriteNullableAsync(copy, dotNetTypeNames.GetValueOrDefault(e.Type), cancellationToken);
                await WriteNullableAsync(copy, metadata.CorrelationId, cancellationToken);
                await WriteNullableAsync(copy, metadata.CausationId, cancellationToken);
                await copy.WriteAsync(Appending.MartenEvents.Headers(e.Hash.Span, e.MetadataJson, e.OccurredAt), NpgsqlDbType.Jsonb, cancellationToken);
                await WriteNullableAsync(copy, metadata.Actor, cancellationToken);
                await copy.WriteAsync(false, NpgsqlDbType.Boolean, cancellationToken);
            }

            await copy.CompleteAsync(cancellationToken);
        }
        catch (PostgresException error) when (error.SqlState.StartsWith("22", StringComparison.Ordinal))
        {
            // A data exception: a value the file carries that PostgreSQL refuses (e.g. a \u0000 in a JSON string).
            throw new ExportFormatException(
                $"Not importable: PostgreSQL refused an event between positions {chunk[0].Position} and {chunk[^1].Position}: {error.MessageText}. Nothing was changed.");
        }
    }

    private static EventMetadata ReadMetadata(RecordedEvent e)
    {
        try
        {
            return e.Metadata;
        }
        catch (JsonException error)
        {
            throw new ExportFormatException($"Not importable: the metadata of the event at position {e.Position} is not a metadata object: {error.Message}. Nothing was changed.");
        }
    }

    private static async Task WriteNullableAsync(NpgsqlBinaryImporter copy, string? value, CancellationToken cancellationToken)
    {
        if (value is null) await copy.WriteNullAsync(cancellationToken);
        else await copy.WriteAsync(value, NpgsqlDbType.Varchar, cancellationToken);
    }
}

/// <summary>What an import loaded.</summary>
/// <param name="Events">Events loaded.</param>
/// <param name="Streams">Streams they form.</param>
/// <param name="Blocks">Blocks loaded from the file.</param>
/// <param name="BlocksSealed">Blocks sealed during the import for events the source had not sealed yet.</param>
public sealed record ImportResult(long Events, long Streams, long Blocks, long BlocksSealed);

/// <summary>An import was refused because the ledger already holds history.</summary>
public sealed class LedgerNotEmptyException(long events, long streams, long blocks)
    : Exception($"The ledger is not empty ({events} events, {streams} streams, {blocks} blocks): an export is only imported into an empty ledger. Nothing was changed.");

/// <summary>An export was refused because its history does not verify; <see cref="Report"/> says what differs.</summary>
public sealed class ExportVerificationException(VerificationReport report)
    : Exception($"The export does not verify: {report.FirstMismatch?.Message ?? "unknown mismatch"}. Nothing was changed.")
{
    /// <summary>The verification of the file.</summary>
    public VerificationReport Report { get; } = report;
}
