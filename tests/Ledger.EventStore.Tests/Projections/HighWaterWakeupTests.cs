using Ledger.EventStore.Projections;
using Ledger.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;

namespace Ledger.EventStore.Tests.Projections;

/// <summary>
/// The high-water agent's wake-up (issue 15, P4): a notification of an append wakes the agent's next wait even when it came
/// while the agent was not waiting (detecting), and a LISTEN connection that breaks is replaced without losing a wake-up.
/// A lost notification costs the agent's whole timeout (up to <c>SlowPollingTime</c>); the waits here have timeouts of an
/// hour, so a lost one fails the test by its cancellation instead of passing late.
/// </summary>
public sealed class HighWaterWakeupTests(DatabaseFixture database) : IClassFixture<DatabaseFixture>
{
    private static readonly TimeSpan Never = TimeSpan.FromHours(1);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_notification_sent_between_two_waits_wakes_the_second()
    {
        var dataSource = database.CreateDataSource();
        using var wakeup = new HighWaterWakeup(dataSource, TimeSpan.FromMilliseconds(10), NullLogger.Instance);
        // The first wait listens and returns at once: what committed before anyone listened may not have been detected.
        await wakeup.WaitAsync(Never, Ct);

        // The agent now detects; an append commits and notifies meanwhile, after the detection's snapshot.
        var before = wakeup.Notifications;
        await NotifyAsync(dataSource);
        await Eventually.HoldsAsync(() => Task.FromResult(wakeup.Notifications > before), "the notification has arrived");

        // Marten's wake-up drained it here and slept until the next append or the timeout.
        await wakeup.WaitAsync(Never, Ct);
    }

    [Fact]
    public async Task A_wait_under_way_is_woken_by_a_notification()
    {
        var dataSource = database.CreateDataSource();
        using var wakeup = new HighWaterWakeup(dataSource, TimeSpan.FromMilliseconds(10), NullLogger.Instance);
        await wakeup.WaitAsync(Never, Ct);

        var waiting = wakeup.WaitAsync(Never, Ct);
        await NotifyAsync(dataSource);
        await waiting;
    }

    [Fact]
    public async Task A_broken_LISTEN_connection_is_replaced_and_wakes_the_wait_under_way()
    {
        var dataSource = database.CreateDataSource(b => b.ConnectionStringBuilder.ApplicationName = "ledger-wakeup-test");
        using var wakeup = new HighWaterWakeup(dataSource, TimeSpan.FromMilliseconds(10), NullLogger.Instance);
        await wakeup.WaitAsync(Never, Ct);
        var listener = await ListenerPidAsync(dataSource);
        Assert.NotNull(listener);

        // Appends that commit while nobody listens notify no one: the wait under way must not sleep through them.
        var waiting = wakeup.WaitAsync(Never, Ct);
        await Db.ScalarAsync<bool>(dataSource, "select pg_terminate_backend(@pid)", new NpgsqlParameter<int>("pid", listener.Value));
        await waiting;

        // The next wait listens again, on a new session, and notifications wake it again.
        await wakeup.WaitAsync(Never, Ct);
        await Eventually.HoldsAsync(async () => await ListenerPidAsync(dataSource) is { } pid && pid != listener, "another session listens");
        var again = wakeup.WaitAsync(Never, Ct);
        await NotifyAsync(dataSource);
        await again;
    }

    [Fact]
    public async Task Disposing_it_ends_its_LISTEN_session()
    {
        var dataSource = database.CreateDataSource(b => b.ConnectionStringBuilder.ApplicationName = "ledger-wakeup-dispose");
        var wakeup = new HighWaterWakeup(dataSource, TimeSpan.FromMilliseconds(10), NullLogger.Instance);
        await wakeup.WaitAsync(Never, Ct);
        Assert.NotNull(await ListenerPidAsync(dataSource));

        wakeup.Dispose();

        await Eventually.HoldsAsync(async () => await ListenerPidAsync(dataSource) is null, "the LISTEN session is gone");
    }

    private static Task NotifyAsync(NpgsqlDataSource dataSource) =>
        Db.ScalarAsync<object>(dataSource, $"select pg_notify('{HighWaterWakeup.Channel}', '')");

    private static async Task<int?> ListenerPidAsync(NpgsqlDataSource dataSource)
    {
        await using var command = dataSource.CreateCommand(
            "select pid from pg_stat_activity where datname = current_database() and application_name = current_setting('application_name') " +
            "and query ilike 'listen %' and pid <> pg_backend_pid()");
        return await command.ExecuteScalarAsync(Ct) is int pid ? pid : null;
    }
}
