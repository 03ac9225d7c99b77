using System.Buffers.Binary;
using System.Security.Cryptography;

namespace Ledger.EventStore.Audit;

/// <summary>
/// The Merkle tree of a block, as RFC 9162 (Certificate Transparency 2.0) section 2.1 defines it: leaf hashes are
/// SHA-256(0x00 || leaf), interior nodes SHA-256(0x01 || left || right), and a tree of n leaves splits at the largest
/// power of two below n. A leaf is the event's global position (8 bytes, big-endian) followed by its 32-byte hash, so a
/// proof binds an event to its place in the ledger as well as to its content.
/// </summary>
public static class MerkleTree
{
    /// <summary>Length of every hash in the tree.</summary>
    public const int HashLength = 32;

    /// <summary>The leaf hash of an event: SHA-256(0x00 || position as 8 bytes big-endian || event hash).</summary>
    public static byte[] LeafHash(long position, ReadOnlySpan<byte> eventHash)
    {
        if (eventHash.Length != HashLength) throw new ArgumentException("An event hash is 32 bytes.", nameof(eventHash));
        Span<byte> input = stackalloc byte[1 + 8 + HashLength];
        input[0] = 0x00;
        BinaryPrimitives.WriteInt64BigEndian(input[1..], position);
        eventHash.CopyTo(input[9..]);
        return SHA256.HashData(input);
    }

    /// <summary>An interior node: SHA-256(0x01 || left || right).</summary>
    public static byte[] NodeHash(ReadOnlySpan<byte> left, ReadOnlySpan<byte> right)
    {
        Span<byte> input = stackalloc byte[1 + 2 * HashLength];
        input[0] = 0x01;
        left.CopyTo(input[1..]);
        right.CopyTo(input[(1 + HashLength)..]);
        return SHA256.HashData(input);
    }

    /// <summary>The Merkle tree hash (MTH) over leaf hashes. Blocks are never empty, so neither is a tree.</summary>
    public static byte[] Root(IReadOnlyList<byte[]> leafHashes)
    {
        ArgumentNullException.ThrowIfNull(leafHashes);
        if (leafHashes.Count == 0) throw new ArgumentException("A tree has at least one leaf.", nameof(leafHashes));

        // Bottom-up: pairing neighbours level by level and carrying an odd last node up unchanged builds exactly the
        // RFC 9162 tree (its left subtrees are always complete), without recursion.
        var level = leafHashes.ToArray();
        while (level.Length > 1)
        {
            var next = new byte[(level.Length + 1) / 2][];
            for (var i = 0; i < next.Length; i++)
                next[i] = 2 * i + 1 < level.Length ? NodeHash(level[2 * i], level[2 * i + 1]) : level[2 * i];
            level = next;
        }

        return level[0];
    }

    /// <summary>The inclusion proof (audit path) of leaf <paramref name="index"/>, leaf-side sibling first (RFC 9162 2.1.3.1).</summary>
    public static IReadOnlyList<byte[]> InclusionPath(IReadOnlyList<byte[]> leafHashes, int index)
    {
        ArgumentNullException.ThrowIfNull(leafHashes);
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, leafHashes.Count);

        var path = new List<byte[]>();
        var level = leafHashes.ToArray();
        var at = index;
        while (level.Length > 1)
        {
            var sibling = at ^ 1;
            if (sibling < level.Length) path.Add(level[sibling]);
            var next = new byte[(level.Length + 1) / 2][];
            for (var i = 0; i < next.Length; i++)
                next[i] = 2 * i + 1 < level.Length ? NodeHash(level[2 * i], level[2 * i + 1]) : level[2 * i];
            level = next;
            at /= 2;
        }

        return path;
    }

    /// <summary>
    /// Recomputes the root from a leaf hash and its audit path with the verification algorithm of RFC 9162 2.1.3.2; a
    /// proof verifies when the result equals the block's Merkle root.
    /// </summary>
    /// <returns>The root, or null when the path has the wrong length for <paramref name="index"/> and <paramref name="treeSize"/>.</returns>
    public static byte[]? RootFromInclusionPath(ReadOnlySpan<byte> leafHash, long index, long treeSize, IReadOnlyList<byte[]> path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (index < 0 || index >= treeSize) return null;

        var fn = index;
        var sn = treeSize - 1;
        var r = leafHash.ToArray();
        foreach (var p in path)
        {
            if (sn == 0) return null;
            if ((fn & 1) == 1 || fn == sn)
            {
                r = NodeHash(p, r);
                if ((fn & 1) == 0)
                {
                    while ((fn & 1) == 0 && fn != 0)
                    {
                        fn >>= 1;
                        sn >>= 1;
                    }
                }
            }
            else
            {
                r = NodeHash(r, p);
            }

            fn >>= 1;
            sn >>= 1;
        }

        return sn == 0 ? r : null;
    }

    /// <summary>Whether the audit path proves that the leaf is at <paramref name="index"/> in the tree with <paramref name="root"/>.</summary>
    public static bool VerifyInclusion(ReadOnlySpan<byte> leafHash, long index, long treeSize, IReadOnlyList<byte[]> path, ReadOnlySpan<byte> root) =>
        RootFromInclusionPath(leafHash, index, treeSize, path) is { } computed && computed.AsSpan().SequenceEqual(root);
}
