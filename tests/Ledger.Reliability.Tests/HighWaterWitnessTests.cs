using Ledger.Reliability.Tests.Support;
using Npgsql;

namespace Ledger.Reliability.Tests;

/// <summary>
/// The check <see cref="ServiceCrashTests"/> relies on for "no committed event behind Marten's high-water mark" can fail:
/// an event whose transaction stays open while the mark is moved past its position, and then commits, is reported.
/// </summary>
public sealed class HighWaterWitnessTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task An_event_committed_after_the_mark_passed_its_position_is_reported()
    {
        await using var cluster = await ReliabilityCluster.StartAsync(Ct);
        await HighWaterWitness.PrepareAsync(cluster);
        // The service only migrates the schema here; nothing is posted.
        await using (await LedgerService.StartAsync(cluster, "node-a", LedgerService.NewAdminKey(), "high-water-witness", cancellationToken: Ct))
        {
        }

        await HighWaterWitness.InstallAsync(cluster.Superuser);
        Assert.Empty((await HighWaterWitness.CheckAsync(cluster.Superuser)).CommittedBehindTheMark);

        // What a lost commit looks like: the event's transaction draws its position and stays open while the mark is moved
        // past that position (as Marten would if it took a live transaction's positions for a dead hole), then commits.
        await using var connection = await cluster.Superuser.OpenConnectionAsync(Ct);
        await using var transaction = await connection.BeginTransactionAsync(Ct);
        await using (var stream = new NpgsqlCommand("insert into ledger.mt_streams(id, version) values ('witness-1', 1)", connection, transaction))
        {
            await stream.ExecuteNonQueryAsync(Ct);
        }

        long position;
        await using (var insert = new NpgsqlCommand("""
            insert into ledger.mt_events(seq_id, id, stream_id, version, data, type)
            values (nextval('ledger.mt_events_sequence'), gen_random_uuid(), 'witness-1', 1, '{}', 'witness')
            returning seq_id
            """, connection, transaction))
        {
            position = (long)(await insert.ExecuteScalarAsync(Ct))!;
        }

        await using (var mark = cluster.Superuser.CreateCommand("""
            insert into ledger.mt_event_progression(name, last_seq_id, last_updated) values ('HighWaterMark', @position, now())
            on conflict (name) do update set last_seq_id = excluded.last_seq_id, last_updated = excluded.last_updated
            """))
        {
            mark.Parameters.AddWithValue("position", position);
            await mark.ExecuteNonQueryAsync(Ct);
        }

        await transaction.CommitAsync(Ct);

        var verdict = await HighWaterWitness.CheckAsync(cluster.Superuser);
        var late = Assert.Single(verdict.CommittedBehindTheMark);
        Assert.StartsWith($"position {position} ", late, StringComparison.Ordinal);
    }
}
