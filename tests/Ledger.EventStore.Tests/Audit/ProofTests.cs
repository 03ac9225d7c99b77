using Ledger.EventStore.Audit;
using Ledger.EventStore.Hashing;
using Ledger.EventStore.Tests.Support;
using Ledger.Testing;

namespace Ledger.EventStore.Tests.Audit;

public sealed class ProofTests(DatabaseFixture database) : IClassFixture<DatabaseFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Every_event_of_every_block_has_a_proof_that_leads_from_its_own_content_to_the_block_root()
    {
        await using var ledger = await SealedLedger.CreateAsync(database);
        var audit = new LedgerAudit(ledger.DataSource);

        for (var s = 0; s < 6; s++)
        {
            foreach (var recorded in ledger.Stream(s))
            {
                var proof = (await audit.GetProofAsync(recorded.EventId, Ct)).Proof!;

                // What an auditor does without our store: hash the event, make the leaf, walk the path to the root.
                var eventHash = EventHasher.Hash(proof.Event.StreamId, proof.Event.StreamVersion, proof.Event.EventId, proof.Event.Type,
                    proof.Event.Data, proof.Event.MetadataJson, proof.Event.OccurredAt, proof.Event.RecordedAt, proof.PreviousHash);
                var leaf = MerkleTree.LeafHash(proof.Event.Position, eventHash);
                Assert.True(MerkleTree.VerifyInclusion(leaf, proof.LeafIndex, proof.Block.EventCount, proof.AuditPath, proof.Block.MerkleRoot),
                    $"event {recorded.Position}");
                Assert.Equal(recorded.Position, proof.Block.Positions[proof.LeafIndex]);
                Assert.True(proof.Verifies());
            }
        }
    }

    [Fact]
    public async Task A_proof_fails_for_an_altered_event()
    {
        await using var ledger = await SealedLedger.CreateAsync(database);
        var recorded = ledger.Stream(1)[3];
        var proof = (await new LedgerAudit(ledger.DataSource).GetProofAsync(recorded.EventId, Ct)).Proof!;

        var alteredHash = EventHasher.Hash(recorded.StreamId, recorded.StreamVersion, recorded.EventId, recorded.Type, """{"n":42}""",
            recorded.MetadataJson, recorded.OccurredAt, recorded.RecordedAt, proof.PreviousHash);
        var movedLeaf = MerkleTree.LeafHash(recorded.Position + 1, recorded.Hash.Span);

        Assert.False(MerkleTree.VerifyInclusion(MerkleTree.LeafHash(recorded.Position, alteredHash), proof.LeafIndex, proof.Block.EventCount, proof.AuditPath, proof.Block.MerkleRoot));
        Assert.False(MerkleTree.VerifyInclusion(movedLeaf, proof.LeafIndex, proof.Block.EventCount, proof.AuditPath, proof.Block.MerkleRoot));
    }

    [Fact]
    public async Task An_unsealed_event_has_no_proof_yet_and_an_unknown_id_has_none_at_all()
    {
        await using var db = await database.CreateDatabaseAsync(Ct);
        await using var node = await Node.StartAsync(db.ConnectionString);
        var appended = await node.Store.AppendToStreamAsync(Events.NewStream(), ExpectedVersion.Any, Events.Many(1), Ct);
        var audit = new LedgerAudit(node.DataSource);

        var unsealed = await audit.GetProofAsync(appended.Events[0].EventId, Ct);
        var unknown = await audit.GetProofAsync(Guid.NewGuid(), Ct);

        Assert.Equal((null, appended.Events[0].Position), (unsealed.Proof, unsealed.Unsealed?.Position));
        Assert.Equal((null, null), (unknown.Proof, unknown.Unsealed));
    }
}
