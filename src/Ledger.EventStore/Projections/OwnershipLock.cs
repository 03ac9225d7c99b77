using System.Data;
using System.Diagnostics;
using JasperFx.Events.Daemon;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Ledger.EventStore.Projections;

/// <summary>
/// A node's HotCold ownership locks (issue 13): the same session advisory locks, on the same keys, as Marten's own
/// (<see cref="MartenSetup.OwnershipLockKey"/>), held on one session of their own that PostgreSQL ends when the node stops
/// answering. The session sets <c>idle_session_timeout</c> to <see cref="MartenSetup.OwnershipTimeout"/> and this lock
/// sends it a query every <see cref="MartenSetup.OwnershipHeartbeat"/>; a process that is frozen (SIGSTOP, a hung VM)
/// sends nothing, the server ends the session and another node takes the locks at its next poll.
/// </summary>
/// <remarks>
/// Marten's lock (Weasel's <c>AdvisoryLock</c> over Medallion's DistributedLock) cannot do this: its monitor sends a query
/// only once a minute (or keeps a minute-long <c>pg_sleep</c> running once Npgsql's <c>Keepalive</c> is set), and a frozen
/// client's kernel still acknowledges TCP, so the session and its locks outlived any freeze (CRITTER-STACK, docs/projections.md,
/// "Ownership and failover"). The timeout is set on this session only; the process's other connections are unaffected.
/// <see cref="HasLock"/> also trusts a lock only while the session answered within the timeout, so after a freeze the
/// coordinator asks again (<see cref="TryAttainLockAsync"/>, which checks the session) before it lets the agents run on.
/// </remarks>
internal sealed partial class OwnershipLock : IAdvisoryLock
{
    private readonly NpgsqlDataSource _dataSource;
    private readonly ILogger _logger;
    private readonly TimeSpan _lease;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly HashSet<int> _held = [];
    private readonly CancellationTokenSource _stopping = new();
    private readonly Task _heartbeat;
    private NpgsqlConnection? _session;
    private long _lastAnswer;
    private int _disposed;

    public OwnershipLock(NpgsqlDataSource dataSource, ILogger logger)
    {
        _dataSource = dataSource;
        _logger = logger;
        // The server's idle clock starts when it has sent an answer, a little before this process reads it: trust a lock
        // for one heartbeat less than the timeout, so it is never trusted after the server may have ended its session.
        _lease = MartenSetup.OwnershipTimeout - MartenSetup.OwnershipHeartbeat;
        using (ExecutionContext.SuppressFlow())
        {
            _heartbeat = Task.Run(() => BeatAsync(_stopping.Token));
        }
    }

    public bool HasLock(int lockId)
    {
        lock (_held)
        {
            if (!_held.Contains(lockId)) return false;
        }

        return Stopwatch.GetElapsedTime(Volatile.Read(ref _lastAnswer)) < _lease;
    }

    public async Task<bool> TryAttainLockAsync(int lockId, CancellationToken token)
    {
        await _gate.WaitAsync(token);
        try
        {
            if (Volatile.Read(ref _disposed) == 1) return false;
            // A lock held on a session that no longer answers is lost; the second round asks on a fresh session.
            for (var round = 0; ; round++)
            {
                try
                {
                    var session = await SessionAsync(token);
                    bool held;
                    lock (_held) held = _held.Contains(lockId);
                    if (held)
                    {
                        // The session answers, so it still holds every lock it took (a session lock ends only with it).
                        await PingAsync(session, token);
                        return true;
                    }

                    await using var command = new NpgsqlCommand("select pg_try_advisory_lock(@key)", session);
                    command.Parameters.AddWithValue("key", (long)lockId);
                    var attained = (bool)(await command.ExecuteScalarAsync(token))!;
                    Answered();
                    if (attained)
                    {
                        lock (_held) _held.Add(lockId);
                    }

                    return attained;
                }
                catch (Exception e) when (!token.IsCancellationRequested && e is NpgsqlException or TimeoutException or IOException)
                {
                    await LoseSessionAsync(e);
                    // No session, no lock: "not attained" makes the coordinator stop any agent of this shard here, where
                    // an exception would leave them running (ProjectionCoordinatorBase logs it and carries on).
                    if (round > 0)
                    {
                        LogNoSession(_logger, e);
                        return false;
                    }
                }
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    public async Task ReleaseLockAsync(int lockId)
    {
        await _gate.WaitAsync();
        try
        {
            bool held;
            lock (_held) held = _held.Remove(lockId);
            if (!held || _session is not { State: ConnectionState.Open } session) return;
            try
            {
                await using var command = new NpgsqlCommand("select pg_advisory_unlock(@key)", session);
                command.Parameters.AddWithValue("key", (long)lockId);
                await command.ExecuteScalarAsync();
                Answered();
            }
            catch (Exception e) when (e is NpgsqlException or TimeoutException or IOException)
            {
                // Without an answer the lock may still be held: ending the session is what releases it for sure.
                await LoseSessionAsync(e);
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        // The coordinator's stop disposes the lock through the distributor, and the coordinator's disposal again.
        if (Interlocked.Exchange(ref _disposed, 1) == 1) return;
        await _stopping.CancelAsync();
        try
        {
            await _heartbeat;
        }
        catch (OperationCanceledException)
        {
            // Stopped while waiting for its next beat.
        }

        await _gate.WaitAsync();
        try
        {
            await CloseSessionAsync();
        }
        finally
        {
            _gate.Release();
        }

        _stopping.Dispose();
    }

    private async Task BeatAsync(CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(MartenSetup.OwnershipHeartbeat);
        while (await timer.WaitForNextTickAsync(cancellationToken))
        {
            await _gate.WaitAsync(cancellationToken);
            try
            {
                if (_session is { } session) await PingAsync(session, cancellationToken);
            }
            catch (Exception e) when (!cancellationToken.IsCancellationRequested)
            {
                await LoseSessionAsync(e);
            }
            finally
            {
                _gate.Release();
            }
        }
    }

    private async Task<NpgsqlConnection> SessionAsync(CancellationToken token)
    {
        if (_session is { State: ConnectionState.Open } open) return open;
        await CloseSessionAsync();
        var session = _dataSource.CreateConnection();
        try
        {
            await session.OpenAsync(token);
            await using var command = new NpgsqlCommand("select set_config('idle_session_timeout', @timeout, false)", session);
            command.Parameters.AddWithValue("timeout", ((long)MartenSetup.OwnershipTimeout.TotalMilliseconds).ToString(System.Globalization.CultureInfo.InvariantCulture));
            await command.ExecuteScalarAsync(token);
        }
        catch
        {
            await session.DisposeAsync();
            throw;
        }

        _session = session;
        Answered();
        return session;
    }

    private async Task PingAsync(NpgsqlConnection session, CancellationToken token)
    {
        await using var command = new NpgsqlCommand("select 1", session);
        command.CommandTimeout = (int)Math.Ceiling(MartenSetup.OwnershipTimeout.TotalSeconds);
        await command.ExecuteScalarAsync(token);
        Answered();
    }

    private void Answered() => Volatile.Write(ref _lastAnswer, Stopwatch.GetTimestamp());

    /// <summary>The session failed: every lock on it is gone (or goes as it closes).</summary>
    private async Task LoseSessionAsync(Exception cause)
    {
        int[] lost;
        lock (_held)
        {
            lost = [.. _held];
            _held.Clear();
        }

        if (lost.Length > 0) LogLost(_logger, cause, lost.Length);
        await CloseSessionAsync();
    }

    private async Task CloseSessionAsync()
    {
        if (_session is not { } session) return;
        _session = null;
        lock (_held) _held.Clear();
        try
        {
            if (session.State == ConnectionState.Open)
            {
                // The connection goes back to the process's pool: it must not keep a lock, nor a timeout that would end it
                // there while idle and fail whoever takes it next.
                await using var reset = new NpgsqlCommand("select pg_advisory_unlock_all(); reset idle_session_timeout", session);
                reset.CommandTimeout = (int)Math.Ceiling(MartenSetup.OwnershipTimeout.TotalSeconds);
                await reset.ExecuteNonQueryAsync();
            }
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException or IOException)
        {
            // A broken connection never returns to the pool, and its session ends with it.
        }
        finally
        {
            await session.DisposeAsync();
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "The session holding this node's projection ownership locks failed; {Count} projection(s) are no longer owned here and will be stopped unless the lock is attained again.")]
    private static partial void LogLost(ILogger logger, Exception exception, int count);

    [LoggerMessage(Level = LogLevel.Warning, Message = "No session for the projection ownership locks; this node runs no projection until it has one.")]
    private static partial void LogNoSession(ILogger logger, Exception exception);
}
