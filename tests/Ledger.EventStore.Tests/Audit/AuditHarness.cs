using Ledger.EventStore.Audit;
using Npgsql;

namespace Ledger.EventStore.Tests.Audit;

internal static class AuditHarness
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>
    /// Seals until <paramref name="expectedEvents"/> are sealed. The sealer reads up to the feed's head (Marten's
    /// high-water mark), which follows commits by tens of milliseconds: wait for the expected count, with a deadline.
    /// A store must be running on the database (it runs the high-water detection).
    /// </summary>
    public static async Task<LedgerDigest> SealEverythingAsync(NpgsqlDataSource dataSource, long expectedEvents, int blockSize = 1000)
    {
        var sealer = new AuditSealer(dataSource, new AuditSealerOptions { BlockSize = blockSize });
        var audit = new LedgerAudit(dataSource);
        var deadline = DateTime.UtcNow.AddSeconds(60);
        // Wait until every event is below the head first, so blocks come out full as they would in a quiet ledger.
        while (await CountBelowHeadAsync(dataSource) < expectedEvents && DateTime.UtcNow < deadline) await Task.Delay(20, Ct);

        while (true)
        {
            await sealer.SealAllAsync(Ct);
            var digest = await audit.GetDigestAsync(Ct);
            if (digest?.SealedEvents == expectedEvents) return digest;
            Assert.True(digest is null || digest.SealedEvents < expectedEvents, $"sealed {digest?.SealedEvents} events, more than the {expectedEvents} appended");
            Assert.True(DateTime.UtcNow < deadline, $"only {digest?.SealedEvents ?? 0} of {expectedEvents} events sealed within a minute");
            await Task.Delay(50, Ct);
        }
    }

    /// <summary>Events at or below the feed's head: those the sealer may seal.</summary>
    public static async Task<long> CountBelowHeadAsync(NpgsqlDataSource dataSource)
    {
        await using var command = dataSource.CreateCommand(
            "select count(*) from ledger.events where position <= (select coalesce(max(last_seq_id), 0) from ledger.mt_event_progression where name = 'HighWaterMark')");
        return (long)(await command.ExecuteScalarAsync(Ct))!;
    }

    /// <summary>The feed's head: Marten's high-water mark.</summary>
    public static async Task<long> HeadAsync(NpgsqlDataSource dataSource)
    {
        await using var command = dataSource.CreateCommand(
            "select coalesce(max(last_seq_id), 0) from ledger.mt_event_progression where name = 'HighWaterMark'");
        return (long)(await command.ExecuteScalarAsync(Ct))!;
    }

    /// <summary>Runs SQL as a database superuser with triggers off: the attacker the audit must catch.</summary>
    public static async Task TamperAsync(string connectionString, string sql, params (string Name, object Value)[] parameters)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(Ct);
        await using var transaction = await connection.BeginTransactionAsync(Ct);
        await using (var off = new NpgsqlCommand("set local session_replication_role = replica", connection, transaction))
            await off.ExecuteNonQueryAsync(Ct);
        await using (var command = new NpgsqlCommand(sql, connection, transaction))
        {
            foreach (var (name, value) in parameters) command.Parameters.AddWithValue(name, value);
            Assert.True(await command.ExecuteNonQueryAsync(Ct) > 0, "the tamper changed something");
        }

        await transaction.CommitAsync(Ct);
    }
}

