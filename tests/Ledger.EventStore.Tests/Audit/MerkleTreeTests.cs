using System.Security.Cryptography;
using Ledger.EventStore.Audit;

namespace Ledger.EventStore.Tests.Audit;

public sealed class MerkleTreeTests
{
    [Fact]
    public void Roots_equal_the_recursive_definition_of_RFC_9162_for_every_size_up_to_70()
    {
        for (var size = 1; size <= 70; size++)
        {
            var leaves = Leaves(size);
            Assert.Equal(Convert.ToHexString(ReferenceRoot(leaves)), Convert.ToHexString(MerkleTree.Root(leaves)));
        }
    }

    [Fact]
    public void Audit_paths_equal_the_recursive_definition_and_verify_for_every_leaf()
    {
        for (var size = 1; size <= 40; size++)
        {
            var leaves = Leaves(size);
            var root = MerkleTree.Root(leaves);
            for (var index = 0; index < size; index++)
            {
                var path = MerkleTree.InclusionPath(leaves, index);
                Assert.Equal(ReferencePath(index, leaves).Select(Convert.ToHexString), path.Select(Convert.ToHexString));
                Assert.True(MerkleTree.VerifyInclusion(leaves[index], index, size, path, root), $"leaf {index} of {size}");
            }
        }
    }

    [Fact]
    public void A_proof_fails_for_an_altered_leaf_a_wrong_index_a_wrong_size_or_a_shortened_path()
    {
        var leaves = Leaves(13);
        var root = MerkleTree.Root(leaves);
        var path = MerkleTree.InclusionPath(leaves, 6);
        var altered = MerkleTree.LeafHash(7, SHA256.HashData("altered"u8));

        Assert.True(MerkleTree.VerifyInclusion(leaves[6], 6, 13, path, root));
        Assert.False(MerkleTree.VerifyInclusion(altered, 6, 13, path, root));
        Assert.False(MerkleTree.VerifyInclusion(leaves[6], 7, 13, path, root));
        Assert.False(MerkleTree.VerifyInclusion(leaves[6], 6, 8, path, root));
        Assert.False(MerkleTree.VerifyInclusion(leaves[6], 6, 13, path.Take(path.Count - 1).ToArray(), root));
        Assert.False(MerkleTree.VerifyInclusion(leaves[6], 13, 13, path, root));
    }

    [Fact]
    public void A_leaf_binds_the_position_as_well_as_the_event_hash()
    {
        var hash = SHA256.HashData("event"u8);

        Assert.NotEqual(Convert.ToHexString(MerkleTree.LeafHash(1, hash)), Convert.ToHexString(MerkleTree.LeafHash(2, hash)));
        // SHA-256(0x00 || 00 00 00 00 00 00 00 01 || hash), written out so that the spec in docs/auditing.md is checked.
        var expected = SHA256.HashData([0x00, 0, 0, 0, 0, 0, 0, 0, 1, .. hash]);
        Assert.Equal(Convert.ToHexString(expected), Convert.ToHexString(MerkleTree.LeafHash(1, hash)));
    }

    private static byte[][] Leaves(int count) =>
        Enumerable.Range(1, count).Select(i => MerkleTree.LeafHash(i, SHA256.HashData(BitConverter.GetBytes(i)))).ToArray();

    // RFC 9162 2.1.1: MTH(D[n]) = SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n])), k the largest power of two smaller than n.
    private static byte[] ReferenceRoot(IReadOnlyList<byte[]> leaves)
    {
        if (leaves.Count == 1) return leaves[0];
        var k = LargestPowerOfTwoBelow(leaves.Count);
        return MerkleTree.NodeHash(ReferenceRoot(leaves.Take(k).ToArray()), ReferenceRoot(leaves.Skip(k).ToArray()));
    }

    // RFC 9162 2.1.3.1: PATH(m, D[n]).
    private static List<byte[]> ReferencePath(int m, IReadOnlyList<byte[]> leaves)
    {
        if (leaves.Count == 1) return [];
        var k = LargestPowerOfTwoBelow(leaves.Count);
        var left = leaves.Take(k).ToArray();
        var right = leaves.Skip(k).ToArray();
        return m < k
            ? [.. ReferencePath(m, left), ReferenceRoot(right)]
            : [.. ReferencePath(m - k, right), ReferenceRoot(left)];
    }

    private static int LargestPowerOfTwoBelow(int n)
    {
        var k = 1;
        while (k * 2 < n) k *= 2;
        return k;
    }
}
