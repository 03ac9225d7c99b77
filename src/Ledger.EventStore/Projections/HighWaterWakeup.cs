using System.Diagnostics;
using JasperFx.Events.Daemon.HighWater;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Ledger.EventStore.Projections;

/// <summary>
/// What wakes Marten's high-water agent between its detections: a notification on the appends' channel (every append
/// transaction of the store sends one as it commits: <c>MartenEvents.NotifyAppended</c>), or the agent's own timeout
/// (<c>FastPollingTime</c>, <c>SlowPollingTime</c>), and never sooner than <see cref="Spacing"/> after the previous wake-up
/// (issue 15, P4; docs/projections.md, "The high-water mark's cadence").
/// </summary>
/// <remarks>
/// <para>
/// Marten 9.62.0's own <c>PostgresqlListenWakeup</c> woke the agent on every notification. Under a thousand single-event
/// appends a second the mark then moved every 14 ms by ~17 positions, each of the three shards loaded one page per move and
/// applied it as a batch of its own (JasperFx's <c>SubscriptionAgent</c> queues pages without merging them, up to twice a
/// shard's batch size ahead), each batch cost about as long as the next move took to come, and the queue stayed full: the
/// read models ran a steady second behind the mark (docs/benchmarks.md, "Issue 15, P4: where a single event's lag goes").
/// Spaced, the mark moves in steps of <see cref="Spacing"/> under load, each shard applies fewer, larger batches and its
/// queue empties between them.
/// </para>
/// <para>
/// It also keeps the notifications that arrive while the agent detects: Marten's wake-up drained them before waiting,
/// so an append that committed after a detection's snapshot but before its end waited for the next append or the
/// timeout (up to a second when the store was quiet). Here a notification counts until a wake-up has passed it.
/// </para>
/// <para>
/// Only the timing of the detections changes: what the agent does at each (the gaps it holds before, the transaction
/// evidence it needs to skip one; MartenSetup) is Marten's.
/// </para>
/// </remarks>
internal sealed class HighWaterWakeup(NpgsqlDataSource dataSource, TimeSpan spacing, ILogger logger) : IDaemonWakeup
{
    /// <summary>The channel the appends notify (Marten's default, which <c>MartenEvents.NotifyAppended</c> names).</summary>
    public const string Channel = Marten.Events.Daemon.HighWater.PostgresqlListenWakeup.DefaultChannel;

    private readonly SemaphoreSlim _connecting = new(1, 1);
    private readonly CancellationTokenSource _lifetime = new();
    private TaskCompletionSource _next = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _notifications;
    private long _passed;
    private long _lastWakeup;
    private NpgsqlConnection? _connection;
    private Task _receiving = Task.CompletedTask;
    private volatile bool _disposed;

    /// <summary>The least time between two wake-ups.</summary>
    public TimeSpan Spacing { get; } = spacing;

    /// <summary>Notifications received since the start, plus one per (re)connection (for tests and the probe).</summary>
    public long Notifications => Interlocked.Read(ref _notifications);

    public async Task WaitAsync(TimeSpan timeout, CancellationToken token)
    {
        var started = Stopwatch.GetTimestamp();
        try
        {
            await EnsureListeningAsync(token);
        }
        catch (Exception e) when (e is not OperationCanceledException || !token.IsCancellationRequested)
        {
            // The agent polls on its timeouts until the database answers again; the next wait tries to listen again.
            if (!_disposed) logger.LogWarning(e, "Could not listen on {Channel} for appends; the high-water agent polls every {Timeout} until it can", Channel, timeout);
            await Task.Delay(timeout, token);
            return;
        }

        var previous = Interlocked.Read(ref _lastWakeup);
        if (previous != 0)
        {
            var hold = Spacing - Stopwatch.GetElapsedTime(previous);
            if (hold > timeout) hold = timeout;
            if (hold > TimeSpan.Zero) await Task.Delay(hold, token);
        }

        // Taken before the count is read: a notification after the read completes this task (the count is raised first).
        var next = Volatile.Read(ref _next);
        if (Interlocked.Read(ref _notifications) == _passed)
        {
            var remaining = timeout - Stopwatch.GetElapsedTime(started);
            if (remaining > TimeSpan.Zero)
            {
                try
                {
                    await next.Task.WaitAsync(remaining, token);
                }
                catch (TimeoutException)
                {
                    // The agent's timeout: it detects anyway.
                }
            }
        }

        // Notifications from here on belong to the next wait: their commits may be later than the coming detection's snapshot.
        _passed = Interlocked.Read(ref _notifications);
        Interlocked.Exchange(ref _lastWakeup, Stopwatch.GetTimestamp());
    }

    private async Task EnsureListeningAsync(CancellationToken token)
    {
        if (Volatile.Read(ref _connection) is not null) return;
        await _connecting.WaitAsync(token);
        try
        {
            if (_connection is not null) return;
            ObjectDisposedException.ThrowIf(_disposed, this);
            var connection = await dataSource.OpenConnectionAsync(token);
            try
            {
                connection.Notification += OnNotification;
                await using (var listen = new NpgsqlCommand($"listen {Channel}", connection))
                {
                    await listen.ExecuteNonQueryAsync(token);
                }
            }
            catch
            {
                await connection.DisposeAsync();
                throw;
            }

            Volatile.Write(ref _connection, connection);
            // Appends that committed while nobody listened (before the first connection, or between a broken one and this)
            // sent their notifications to no one: the next detection must not wait for another.
            Signal();
            _receiving = Task.Run(() => ReceiveAsync(connection, _lifetime.Token), CancellationToken.None);
        }
        finally
        {
            _connecting.Release();
        }
    }

    /// <summary>Reads the connection's notifications until it breaks or the wake-up ends; the connection is used and
    /// disposed here only (Npgsql refuses to close it from another thread while it waits).</summary>
    private async Task ReceiveAsync(NpgsqlConnection connection, CancellationToken token)
    {
        try
        {
            while (!token.IsCancellationRequested) await connection.WaitAsync(token);
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
            // Ended.
        }
        catch (Exception e)
        {
            if (!_disposed) logger.LogWarning(e, "The connection listening on {Channel} for appends broke; the next wait listens again", Channel);
        }
        finally
        {
            connection.Notification -= OnNotification;
            Interlocked.CompareExchange(ref _connection, null, connection);
            try
            {
                await connection.DisposeAsync();
            }
            catch (Exception e) when (e is NpgsqlException or InvalidOperationException or IOException)
            {
                // A broken connection may fail to close; it is gone either way.
            }
        }

        // A wait under way would otherwise sleep its full timeout before the next wait listens again.
        if (!token.IsCancellationRequested) Signal();
    }

    private void OnNotification(object sender, NpgsqlNotificationEventArgs e) => Signal();

    private void Signal()
    {
        Interlocked.Increment(ref _notifications);
        Interlocked.Exchange(ref _next, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _lifetime.Cancel();
        // The receive loop closes the connection as it ends; waited for so that no LISTEN session outlives the daemon.
        try
        {
            _receiving.Wait(TimeSpan.FromSeconds(5));
        }
        catch (AggregateException)
        {
            // Logged by the loop.
        }
    }
}
