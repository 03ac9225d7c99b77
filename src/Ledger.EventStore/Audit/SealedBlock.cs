using System.Buffers;
using System.Security.Cryptography;
using Ledger.EventStore.Hashing;

namespace Ledger.EventStore.Audit;

/// <summary>
/// A block of sealed events: their positions and hashes in block order, the Merkle root over them, and the chain hash
/// that links the block to the one before it. Blocks are append-only evidence (docs/auditing.md).
/// </summary>
public sealed class SealedBlock
{
    /// <summary>Creates a block from its stored parts (the store and importers create these).</summary>
    public SealedBlock(
        long number, IReadOnlyList<long> positions, IReadOnlyList<byte[]> eventHashes, byte[] merkleRoot, byte[]? previousChainHash,
        byte[] chainHash, DateTimeOffset sealedAt)
    {
        ArgumentNullException.ThrowIfNull(positions);
        ArgumentNullException.ThrowIfNull(eventHashes);
        if (positions.Count == 0 || positions.Count != eventHashes.Count)
            throw new ArgumentException("A block has one hash per position and at least one of each.", nameof(eventHashes));
        Number = number;
        Positions = positions;
        EventHashes = eventHashes;
        MerkleRoot = merkleRoot;
        PreviousChainHash = previousChainHash;
        ChainHash = chainHash;
        SealedAt = sealedAt;
    }

    /// <summary>1-based number in the chain.</summary>
    public long Number { get; }

    /// <summary>The global positions of the sealed events, in block (feed) order.</summary>
    public IReadOnlyList<long> Positions { get; }

    /// <summary>The events' hashes as they were when sealed, in block order.</summary>
    public IReadOnlyList<byte[]> EventHashes { get; }

    /// <summary>RFC 9162 Merkle tree hash over the leaves (position, event hash).</summary>
    public byte[] MerkleRoot { get; }

    /// <summary>The previous block's chain hash; null for block 1.</summary>
    public byte[]? PreviousChainHash { get; }

    /// <summary>SHA-256 over the canonical header (see <see cref="ComputeChainHash"/>).</summary>
    public byte[] ChainHash { get; }

    /// <summary>When the block was sealed (microsecond precision, as stored).</summary>
    public DateTimeOffset SealedAt { get; }

    /// <summary>Number of events in the block.</summary>
    public int EventCount => Positions.Count;

    /// <summary>The position of the block's first event.</summary>
    public long FirstPosition => Positions[0];

    /// <summary>The position of the block's last event.</summary>
    public long LastPosition => Positions[^1];

    /// <summary>The Merkle leaf hashes, in block order.</summary>
    public IReadOnlyList<byte[]> LeafHashes() =>
        Positions.Select((position, i) => MerkleTree.LeafHash(position, EventHashes[i])).ToArray();

    /// <summary>Seals events into the block that follows <paramref name="previous"/> (null for the first block).</summary>
    public static SealedBlock Seal(SealedBlockHeader? previous, IReadOnlyList<(long Position, byte[] Hash)> events, DateTimeOffset sealedAt)
    {
        ArgumentNullException.ThrowIfNull(events);
        if (events.Count == 0) throw new ArgumentException("A block seals at least one event.", nameof(events));

        // Stored as timestamptz (microseconds): the hashed value must be the one a verifier reads back.
        var stored = TruncateToMicroseconds(sealedAt);
        var positions = events.Select(e => e.Position).ToArray();
        var hashes = events.Select(e => e.Hash).ToArray();
        var root = MerkleTree.Root(positions.Select((p, i) => MerkleTree.LeafHash(p, hashes[i])).ToArray());
        var number = (previous?.Number ?? 0) + 1;
        var chainHash = ComputeChainHash(number, positions.Length, positions[0], positions[^1], root, previous?.ChainHash, stored);
        return new SealedBlock(number, positions, hashes, root, previous?.ChainHash, chainHash, stored);
    }

    /// <summary>
    /// The chain hash: SHA-256 over the RFC 8785 canonical JSON of
    /// <c>{"blockNumber","eventCount","firstPosition","lastPosition","merkleRoot","previousChainHash","sealedAt"}</c>,
    /// hashes as lowercase hex (previousChainHash null for block 1), sealedAt as in event envelopes.
    /// </summary>
    public static byte[] ComputeChainHash(
        long number, int eventCount, long firstPosition, long lastPosition, ReadOnlySpan<byte> merkleRoot,
        ReadOnlySpan<byte> previousChainHash, DateTimeOffset sealedAt)
    {
        var output = new ArrayBufferWriter<byte>(320);
        output.Write("{\"blockNumber\":"u8);
        CanonicalJson.WriteAscii(CanonicalJson.FormatNumber(number), output);
        output.Write(",\"eventCount\":"u8);
        CanonicalJson.WriteAscii(CanonicalJson.FormatNumber(eventCount), output);
        output.Write(",\"firstPosition\":"u8);
        CanonicalJson.WriteAscii(CanonicalJson.FormatNumber(firstPosition), output);
        output.Write(",\"lastPosition\":"u8);
        CanonicalJson.WriteAscii(CanonicalJson.FormatNumber(lastPosition), output);
        output.Write(",\"merkleRoot\":"u8);
        CanonicalJson.WriteString(Convert.ToHexStringLower(merkleRoot), output);
        output.Write(",\"previousChainHash\":"u8);
        if (previousChainHash.IsEmpty) output.Write("null"u8);
        else CanonicalJson.WriteString(Convert.ToHexStringLower(previousChainHash), output);
        output.Write(",\"sealedAt\":"u8);
        CanonicalJson.WriteString(EventHasher.FormatTimestamp(sealedAt), output);
        output.Write("}"u8);
        return SHA256.HashData(output.WrittenSpan);
    }

    /// <summary>What the next block chains onto.</summary>
    public SealedBlockHeader Header => new(Number, ChainHash);

    internal static DateTimeOffset TruncateToMicroseconds(DateTimeOffset value) =>
        new(value.UtcTicks - value.UtcTicks % 10, TimeSpan.Zero);
}

/// <summary>The part of a block the next block needs: its number and chain hash.</summary>
/// <param name="Number">The block's number.</param>
/// <param name="ChainHash">The block's chain hash.</param>
public sealed record SealedBlockHeader(long Number, byte[] ChainHash);
