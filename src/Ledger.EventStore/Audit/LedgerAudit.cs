using System.Runtime.CompilerServices;
using Npgsql;

namespace Ledger.EventStore.Audit;

/// <summary>The auditor's view of the store: the digest, inclusion proofs, verification, and the history in position order.</summary>
public sealed class LedgerAudit(NpgsqlDataSource dataSource)
{
    /// <summary>The newest block, or null while nothing is sealed.</summary>
    public async Task<LedgerDigest?> GetDigestAsync(CancellationToken cancellationToken = default)
    {
        await using var command = dataSource.CreateCommand(AuditSql.LatestBlock);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken)) return null;
        var block = AuditSql.ReadBlock(reader);
        return new LedgerDigest(block.Number, block.EventCount, block.LastPosition, reader.GetInt64(7), block.MerkleRoot, block.ChainHash, block.SealedAt);
    }

    /// <summary>
    /// The proof that an event is in the ledger: the event, the hash it chains onto, its block and the Merkle audit path
    /// from its leaf to the block's root.
    /// </summary>
    public async Task<ProofLookup> GetProofAsync(Guid eventId, CancellationToken cancellationToken = default)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        RecordedEvent recorded;
        byte[]? previousHash;
        await using (var command = new NpgsqlCommand(AuditSql.ReadEventById, connection))
        {
            command.Parameters.AddWithValue("event_id", eventId);
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            if (!await reader.ReadAsync(cancellationToken)) return ProofLookup.EventNotFound;
            recorded = AuditSql.ReadEvent(reader);
            previousHash = reader.IsDBNull(10) ? null : reader.GetFieldValue<byte[]>(10);
        }

        SealedBlock block;
        await using (var command = new NpgsqlCommand(AuditSql.BlockOfPosition, connection))
        {
            command.Parameters.AddWithValue("position", recorded.Position);
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            if (!await reader.ReadAsync(cancellationToken)) return ProofLookup.NotSealedYet(recorded);
            block = AuditSql.ReadBlock(reader);
        }

        var index = 0;
        while (block.Positions[index] != recorded.Position) index++;
        var leaves = block.LeafHashes();
        var proof = new InclusionProof(recorded, previousHash, block, index, leaves[index], MerkleTree.InclusionPath(leaves, index));
        return ProofLookup.Found(proof);
    }

    /// <summary>
    /// Verifies the whole database from one snapshot: every event as Marten stores it (<c>mt_events</c>: data, the
    /// metadata, occurred-at and hash in its headers, its timestamp, stream, version and type), every stream against
    /// <c>mt_streams</c>, every block and, if given, the history up to a digest.
    /// </summary>
    public async Task<VerificationReport> VerifyAsync(LedgerDigestReference? digest = null, IProgress<long>? progress = null, CancellationToken cancellationToken = default)
    {
        var verifier = new LedgerVerifier(digest);
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await AuditSql.BeginSnapshotAsync(connection, cancellationToken);
        long count = 0;
        await foreach (var page in AuditSql.ReadStoredEventPagesAsync(connection, transaction, cancellationToken))
        {
            foreach (var stored in page)
            {
                if (stored.Event is { } recorded)
                {
                    verifier.AddEvent(recorded);
                    verifier.CheckMartenColumns(recorded, stored.Columns!);
                }
                else verifier.AddUnreadableEvent(stored.Position, stored.EventId, stored.StreamId, stored.StreamVersion, stored.Problem!);
            }

            count += page.Count;
            progress?.Report(count);
        }

        await using (var command = new NpgsqlCommand(AuditSql.ReadStreams, connection, transaction))
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                verifier.CheckStreamRecord(reader.GetString(0), reader.GetInt64(1));
                verifier.CheckMartenStreamColumns(reader.GetString(0), reader.IsDBNull(2) ? null : reader.GetString(2), !reader.IsDBNull(3) && reader.GetBoolean(3));
            }
        }

        verifier.CheckAllStreamsRecorded();
        await foreach (var block in AuditSql.ReadAllBlocksAsync(connection, transaction, cancellationToken)) verifier.AddBlock(block);
        await transaction.CommitAsync(cancellationToken);
        return verifier.Complete();
    }

    /// <summary>Events in position order, from after <paramref name="afterPosition"/> through <paramref name="toPosition"/>, a page at a time.</summary>
    public async IAsyncEnumerable<RecordedEvent> ReadEventsAsync(
        long afterPosition = 0, long toPosition = long.MaxValue, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await foreach (var page in AuditSql.ReadEventPagesAsync(connection, null, afterPosition, toPosition, cancellationToken))
        {
            foreach (var recorded in page) yield return recorded;
        }
    }

    /// <summary>Sealed blocks in chain order.</summary>
    public async IAsyncEnumerable<SealedBlock> ReadBlocksAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await foreach (var block in AuditSql.ReadAllBlocksAsync(connection, null, cancellationToken)) yield return block;
    }
}

/// <summary>A digest of the ledger: its newest block. Auditors keep these outside the ledger.</summary>
/// <param name="BlockNumber">The newest block's number.</param>
/// <param name="EventCount">Events in that block.</param>
/// <param name="LastPosition">Position of the block's last event.</param>
/// <param name="SealedEvents">Events sealed in all blocks up to and including this one.</param>
/// <param name="MerkleRoot">The block's Merkle root.</param>
/// <param name="ChainHash">The block's chain hash: commits to every earlier block and every sealed event.</param>
/// <param name="SealedAt">When the block was sealed.</param>
public sealed record LedgerDigest(
    long BlockNumber, int EventCount, long LastPosition, long SealedEvents, byte[] MerkleRoot, byte[] ChainHash, DateTimeOffset SealedAt)
{
    /// <summary>What a later verification is given.</summary>
    public LedgerDigestReference Reference => new(BlockNumber, ChainHash);
}

/// <summary>An inclusion proof: everything an auditor needs to check one event against a block root, and that root against a digest.</summary>
/// <param name="Event">The event as stored.</param>
/// <param name="PreviousHash">The hash of the previous event of its stream (null for version 1): part of the event's hash input.</param>
/// <param name="Block">The block that sealed it.</param>
/// <param name="LeafIndex">The event's leaf index in the block (0-based).</param>
/// <param name="LeafHash">SHA-256(0x00 || position || event hash).</param>
/// <param name="AuditPath">Sibling hashes from the leaf up to the root (RFC 9162 2.1.3.1).</param>
public sealed record InclusionProof(
    RecordedEvent Event, byte[]? PreviousHash, SealedBlock Block, int LeafIndex, byte[] LeafHash, IReadOnlyList<byte[]> AuditPath)
{
    /// <summary>Whether the path leads from the leaf to the block's Merkle root.</summary>
    public bool Verifies() => MerkleTree.VerifyInclusion(LeafHash, LeafIndex, Block.EventCount, AuditPath, Block.MerkleRoot);
}

/// <summary>The outcome of asking for a proof.</summary>
/// <param name="Proof">The proof, when the event is sealed.</param>
/// <param name="Unsealed">The event, when it exists but no block has sealed it yet.</param>
public sealed record ProofLookup(InclusionProof? Proof, RecordedEvent? Unsealed)
{
    /// <summary>No event has that id.</summary>
    public static ProofLookup EventNotFound { get; } = new(null, null);

    /// <summary>The event exists; the sealer has not reached it yet.</summary>
    public static ProofLookup NotSealedYet(RecordedEvent recorded) => new(null, recorded);

    /// <summary>The event and its proof.</summary>
    public static ProofLookup Found(InclusionProof proof) => new(proof, null);
}
