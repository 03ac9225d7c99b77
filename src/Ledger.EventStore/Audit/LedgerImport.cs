using Ledger.EventStore.Schema;
using Npgsql;
using NpgsqlTypes;

namespace Ledger.EventStore.Audit;

/// <summary>
/// Loads a complete export into an empty ledger with binary COPY, in one transaction: ids, positions, hashes and blocks
/// are preserved; the file is verified while it loads, and any fault (a non-empty ledger, a damaged or altered file)
/// rolls everything back. Events the source had not sealed yet are sealed here, in the source's feed order, continuing
/// the chain exactly as the source's sealer would have.
/// </summary>
public static class LedgerImport
{
    private static readonly IReadOnlyList<string> Prepare = SqlStatements.Split(SqlResources.Read(typeof(LedgerImport).Assembly, "import_prepare.sql"));
    private static readonly IReadOnlyList<string> Finish = SqlStatements.Split(SqlResources.Read(typeof(LedgerImport).Assembly, "import_finish.sql"));

    /// <summary>Imports an export (already decompressed) into the empty ledger behind <paramref name="dataSource"/>.</summary>
    /// <returns>The verification of what was loaded (always <c>Ok</c>; otherwise an exception is thrown and nothing changes).</returns>
    /// <exception cref="LedgerNotEmptyException">The ledger already holds events, streams or blocks.</exception>
    /// <exception cref="ExportFormatException">The file is not a complete, intact export.</exception>
    /// <exception cref="ExportVerificationException">The file reads but its history does not verify.</exception>
    public static async Task<ImportResult> ImportAsync(
        NpgsqlDataSource dataSource, Stream input, AuditSealerOptions? sealing = null, TimeProvider? time = null, IProgress<long>? progress = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(dataSource);
        ArgumentNullException.ThrowIfNull(input);
        var blockSize = (sealing ?? new AuditSealerOptions()).BlockSize;
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
        var feedOrder = new Dictionary<long, (ulong TransactionId, byte[] Hash)>();
        var sealedBlocks = new List<SealedBlock>();
        long loaded = 0;
        var items = reader.ReadItemsAsync(cancellationToken).GetAsyncEnumerator(cancellationToken);
        try
        {
            await using (var copy = await connection.BeginBinaryImportAsync(
                "copy ledger.events (position, event_id, stream_id, stream_version, type, data, metadata, occurred_at, recorded_at, hash) from stdin (format binary)",
                cancellationToken))
            {
                while (await items.MoveNextAsync())
                {
                    if (items.Current.Block is { } block)
                    {
                        sealedBlocks.Add(block);
                        break;
                    }

                    var e = items.Current.Event!;
                    verifier.AddEvent(e);
                    feedOrder[e.Position] = (items.Current.TransactionId, e.Hash.ToArray());
                    await copy.StartRowAsync(cancellationToken);
                    await copy.WriteAsync(e.Position, NpgsqlDbType.Bigint, cancellationToken);
                    await copy.WriteAsync(e.EventId, NpgsqlDbType.Uuid, cancellationToken);
                    await copy.WriteAsync(e.StreamId, NpgsqlDbType.Text, cancellationToken);
                    await copy.WriteAsync(e.StreamVersion, NpgsqlDbType.Bigint, cancellationToken);
                    await copy.WriteAsync(e.Type, NpgsqlDbType.Text, cancellationToken);
                    await copy.WriteAsync(e.Data, NpgsqlDbType.Jsonb, cancellationToken);
                    await copy.WriteAsync(e.MetadataJson, NpgsqlDbType.Jsonb, cancellationToken);
                    await copy.WriteAsync(e.OccurredAt, NpgsqlDbType.TimestampTz, cancellationToken);
                    await copy.WriteAsync(e.RecordedAt, NpgsqlDbType.TimestampTz, cancellationToken);
                    await copy.WriteAsync(e.Hash.ToArray(), NpgsqlDbType.Bytea, cancellationToken);
                    if (++loaded % 5000 == 0) progress?.Report(loaded);
                }

                await copy.CompleteAsync(cancellationToken);
            }

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

        // The source's unsealed tail, sealed in its feed order (transaction id, position) onto the last imported block.
        var sealedPositions = new HashSet<long>(sealedBlocks.SelectMany(b => b.Positions));
        var tail = feedOrder.Where(kv => !sealedPositions.Contains(kv.Key))
            .OrderBy(kv => kv.Value.TransactionId).ThenBy(kv => kv.Key)
            .Select(kv => (kv.Key, kv.Value.Hash)).ToList();
        var tip = sealedBlocks.Count > 0 ? sealedBlocks[^1].Header : null;
        var now = (time ?? TimeProvider.System).GetUtcNow();
        var newBlocks = tail.Chunk(blockSize).Select(chunk =>
        {
            var block = SealedBlock.Seal(tip, chunk, now);
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

        foreach (var statement in Finish)
        {
            await using var command = new NpgsqlCommand(statement, connection, transaction);
            await command.ExecuteNonQueryAsync(cancellationToken);
        }

        await transaction.CommitAsync(cancellationToken);
        progress?.Report(loaded);
        return new ImportResult(loaded, report.StreamsChecked, sealedBlocks.Count, newBlocks.Count);
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
