using Ledger.EventStore.Tests.Support;
using Ledger.Testing;
using Npgsql;

namespace Ledger.EventStore.Tests.Projections;

/// <summary>
/// Marten's daemon is woken by a LISTEN connection of its own: the store's <c>HighWaterWakeup</c>, one per daemon (Marten
/// 9.62.0's own, <c>UseListenNotifyForEventAppends</c>, was closed nowhere). The store's coordinator ends it with the daemon
/// (OwnershipCoordinator), so a stopped node leaves no session behind, and a database stopped after the service does not
/// end it under Marten (which logged that with a stack trace on every Ctrl+C of <c>ledger run</c>).
/// </summary>
public sealed class DaemonWakeupTests(DatabaseFixture database) : IClassFixture<DatabaseFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_stopped_node_leaves_no_LISTEN_session_behind()
    {
        await using var db = await database.CreateDatabaseAsync(Ct);
        await using var writer = await Node.StartAsync(db.ConnectionString);
        var counter = new MartenCounter("woken");
        await counter.CreateTablesAsync(writer.DataSource);
        var log = new CapturedLog();
        var node = await MartenNode.StartAsync(db.ConnectionString, "listener", log, counter);
        try
        {
            await writer.Store.AppendToStreamAsync(Events.NewStream(), ExpectedVersion.Any, Events.Many(2), Ct);
            await Eventually.HoldsAsync(async () => (await counter.ReadLogAsync(writer.DataSource)).Count == 2, "the daemon applied the events");
            await Eventually.HoldsAsync(async () => await ListeningAsync(writer.DataSource) == 1, "the daemon listens for appends");
        }
        finally
        {
            await node.DisposeAsync();
        }

        await Eventually.HoldsAsync(async () => await ListeningAsync(writer.DataSource) == 0, "the stopped node's LISTEN session is gone", TimeSpan.FromSeconds(30));
        Assert.DoesNotContain(log.Entries, e => e.Message.Contains("LISTEN", StringComparison.Ordinal));
    }

    private static Task<long> ListeningAsync(NpgsqlDataSource dataSource) =>
        Db.ScalarAsync<long>(dataSource,
            "select count(*) from pg_stat_activity where application_name = 'ledger-listener' and datname = current_database() and query ilike 'listen %'");
}
