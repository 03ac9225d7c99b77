using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using NpgsqlTypes;

namespace Ledger.EventStore.Projections;

/// <summary>
/// Runs asynchronous projections. Start one on every node: each projection has exactly one owner at a time (a session
/// advisory lock on the node's ownership connection), the projections are shared out across the live nodes, and a dead
/// owner's projections are taken over by the others within a few seconds. Each owned projection runs in its own loop that
/// applies feed batches in one transaction with its checkpoint, woken by <c>LISTEN ledger_events</c> (notified whenever the
/// feed's high-water mark moves) with polling as the fallback. See docs/projections.md.
/// </summary>
public sealed partial class ProjectionDaemon
{
    /// <summary>The first key of the two-key advisory locks that own projections (<c>pg_try_advisory_lock(ns, hashtext(name))</c>).</summary>
    public const int AdvisoryLockNamespace = 0x4C505231; // "LPR1"

    /// <summary>The first key of the advisory lock each node's ownership session holds on <c>hashtext(node id)</c> while it lives.</summary>
    public const int NodeLockNamespace = 0x4C504E31; // "LPN1"

    private readonly NpgsqlDataSource _dataSource;
    private readonly IReadOnlyList<ProjectionRunner> _runners;
    private readonly IReadOnlyList<ProjectionRunner> _preferenceOrder;
    private readonly ProjectionDaemonOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly ConcurrentDictionary<string, OwnedLoop> _owned = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Signal> _signals = new(StringComparer.Ordinal);

    /// <summary>Creates the daemon. Apply <see cref="EventStoreSchema.Migrations"/> (and the projections' own) first.</summary>
    /// <param name="dataSource">The process's data source.</param>
    /// <param name="projections">The projections to run; names must be unique.</param>
    /// <param name="options">How to run (the node id above all).</param>
    /// <param name="logger">Where failures, ownership changes and rebuilds are logged.</param>
    /// <param name="timeProvider">The clock for intervals and timeouts.</param>
    public ProjectionDaemon(
        NpgsqlDataSource dataSource, IEnumerable<IProjection> projections, ProjectionDaemonOptions? options = null,
        ILogger? logger = null, TimeProvider? timeProvider = null)
    {
        _dataSource = dataSource ?? throw new ArgumentNullException(nameof(dataSource));
        ArgumentNullException.ThrowIfNull(projections);
        _options = options ?? new ProjectionDaemonOptions();
        _options.Validate();
        _logger = logger ?? NullLogger.Instance;
        _time = timeProvider ?? TimeProvider.System;
        var list = projections.ToList();
        var duplicate = list.GroupBy(p => p.Name, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null) throw new ArgumentException($"Two projections are named '{duplicate.Key}'.", nameof(projections));
        _runners = list.Select(p => new ProjectionRunner(dataSource, p, _options, _logger)).ToList();
        foreach (var runner in _runners)
        {
            var signal = _signals[runner.Name] = new Signal();
            runner.Wake = signal.Set;
        }

        // Each node tries the projections in an order of its own, so that nodes starting together do not all reach for
        // the same ones first.
        _preferenceOrder = _runners.OrderBy(r => Rank(_options.NodeId, r.Name)).ThenBy(r => r.Name, StringComparer.Ordinal).ToList();
    }

    /// <summary>The names of the projections this node owns right now.</summary>
    public IReadOnlyCollection<string> OwnedProjections => [.. _owned.Keys.Order(StringComparer.Ordinal)];

    /// <summary>
    /// Runs until <paramref name="cancellationToken"/> is cancelled: heartbeats, takes and releases ownership, runs the owned
    /// projections. Survives lost connections and database restarts (it reconnects); on cancellation it stops its loops,
    /// releases its projections and leaves the node table.
    /// </summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var listener = ListenAsync(cancellationToken);
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                try
                {
                    await RunSessionAsync(cancellationToken);
                }
                catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
                {
                    break;
                }
                catch (Exception e)
                {
                    // The session is over (its loops were stopped when it ended); reconnect rather than end the host.
                    LogSessionLost(_logger, e, _options.NodeId);
                }

                try
                {
                    await Task.Delay(_options.RetryDelay, _time, cancellationToken);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }
        }
        finally
        {
            await listener;
        }
    }

    /// <summary>One ownership session: a dedicated connection whose lifetime bounds every lock and loop of this node.</summary>
    private async Task RunSessionAsync(CancellationToken cancellationToken)
    {
        using var session = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        var clean = false;
        try
        {
            await EnsureCheckpointsAsync(connection, cancellationToken);
            if (!await ScalarAsync<bool>(connection, ProjectionSql.NodeLock, cancellationToken,
                    new NpgsqlParameter<int>("node_namespace", NodeLockNamespace), ProjectionRunner.Text("node_id", _options.NodeId)))
            {
                LogNodeLockHeld(_logger, _options.NodeId);
            }

            while (true)
            {
                await HeartbeatAndRebalanceAsync(connection, session.Token, cancellationToken);
                await Task.Delay(_options.OwnershipInterval, _time, cancellationToken);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            clean = true;
            throw;
        }
        finally
        {
            // Whatever ended the session, no loop of this node may run on without the locks that make it the owner.
            await session.CancelAsync();
            await StopAllLoopsAsync();
            await CloseSessionAsync(connection, clean);
        }
    }

    private async Task HeartbeatAndRebalanceAsync(NpgsqlConnection connection, CancellationToken session, CancellationToken cancellationToken)
    {
        var liveNodes = await HeartbeatAsync(connection, cancellationToken);
        var target = (int)Math.Ceiling(_runners.Count / (double)Math.Max(1, liveNodes));

        // Give up the least preferred extras (after their current batch) so that nodes which joined can take them.
        foreach (var runner in _preferenceOrder.Reverse())
        {
            if (_owned.Count <= target) break;
            if (!_owned.TryRemove(runner.Name, out var loop)) continue;
            await loop.StopAsync();
            await ExecuteAsync(connection, ProjectionSql.OwnerClear, cancellationToken, Name(runner), Node());
            await ScalarAsync<bool>(connection, ProjectionSql.Unlock, cancellationToken, Namespace(), Name(runner));
            LogReleased(_logger, runner.Name, _options.NodeId, liveNodes);
        }

        foreach (var runner in _preferenceOrder)
        {
            if (_owned.Count >= target) break;
            if (_owned.ContainsKey(runner.Name)) continue;
            if (!await ScalarAsync<bool>(connection, ProjectionSql.TryLock, cancellationToken, Namespace(), Name(runner))) continue;
            await ExecuteAsync(connection, ProjectionSql.OwnerSet, cancellationToken, Name(runner), Node());
            _owned[runner.Name] = OwnedLoop.Start(runner, session, RunLoopAsync);
            LogTookOwnership(_logger, runner.Name, _options.NodeId, liveNodes);
        }
    }

    private async Task<long> HeartbeatAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        await using var batch = new NpgsqlBatch(connection);
        foreach (var sql in ProjectionSql.NodeHeartbeat)
        {
            var command = new NpgsqlBatchCommand(sql);
            command.Parameters.Add(Node());
            command.Parameters.Add(new NpgsqlParameter<TimeSpan>("node_timeout", NpgsqlDbType.Interval) { TypedValue = _options.NodeTimeout });
            command.Parameters.Add(new NpgsqlParameter<int>("node_namespace", NodeLockNamespace));
            batch.BatchCommands.Add(command);
        }

        // A heartbeat that cannot get through within the node timeout means the session is as good as gone.
        batch.Timeout = Math.Max(1, (int)_options.NodeTimeout.TotalSeconds);
        return (long)(await batch.ExecuteScalarAsync(cancellationToken))!;
    }

    private async Task RunLoopAsync(ProjectionRunner runner, CancellationToken session, CancellationToken stop)
    {
        try
        {
            await RunBatchesAsync(runner, session, stop);
        }
        finally
        {
            await runner.StopBulkReplayAsync();
        }
    }

    private async Task RunBatchesAsync(ProjectionRunner runner, CancellationToken session, CancellationToken stop)
    {
        var signal = _signals[runner.Name];
        while (!stop.IsCancellationRequested)
        {
            bool more;
            try
            {
                // Batches run on the session token only: a release waits for the current batch; a lost session aborts it.
                more = await runner.RunOnceAsync(session);
            }
            catch (OperationCanceledException) when (session.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                // Anything that is not the projection's own fault (that is caught and recorded as failed): a lost
                // connection, a transient error. The loop must not die silently while this node still owns the projection.
                LogBatchError(_logger, e, runner.Name);
                more = false;
                if (!await DelayAsync(_options.RetryDelay, stop)) return;
            }

            if (!more && !await signal.WaitAsync(_options.PollInterval, _time, stop)) return;
        }
    }

    private async Task ListenAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
                connection.Notification += (_, e) => Wake(e.Channel, e.Payload);
                await using (var listen = new NpgsqlCommand(ProjectionSql.Listen, connection))
                {
                    await listen.ExecuteNonQueryAsync(cancellationToken);
                }

                // Anything committed while we were not listening.
                Wake("ledger_events", string.Empty);
                while (true) await connection.WaitAsync(cancellationToken);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is NpgsqlException or TimeoutException or InvalidOperationException or OperationCanceledException)
            {
                LogListenerLost(_logger, e, _options.NodeId);
                if (!await DelayAsync(_options.RetryDelay, cancellationToken)) return;
            }
        }
    }

    private void Wake(string channel, string payload)
    {
        if (channel == "ledger_projections" && _signals.TryGetValue(payload, out var one))
        {
            one.Set();
            return;
        }

        foreach (var signal in _signals.Values) signal.Set();
    }

    private async Task EnsureCheckpointsAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        foreach (var runner in _runners)
        {
            await ExecuteAsync(connection, ProjectionSql.CheckpointEnsure, cancellationToken, Name(runner));
        }
    }

    private async Task StopAllLoopsAsync()
    {
        foreach (var name in _owned.Keys.ToList())
        {
            if (_owned.TryRemove(name, out var loop)) await loop.StopAsync();
        }
    }

    private async Task CloseSessionAsync(NpgsqlConnection connection, bool clean)
    {
        try
        {
            if (connection.State == System.Data.ConnectionState.Open)
            {
                using var timeout = new CancellationTokenSource(_options.NodeTimeout, _time);
                if (clean)
                {
                    foreach (var sql in ProjectionSql.NodeRemove)
                    {
                        await ExecuteAsync(connection, sql, timeout.Token, Node());
                    }
                }

                // Released explicitly: a pooled connection keeps its session (and its locks) until it is reused.
                await ScalarAsync<object>(connection, ProjectionSql.UnlockAll, timeout.Token);
            }
        }
        catch (Exception e) when (e is NpgsqlException or OperationCanceledException or InvalidOperationException or TimeoutException)
        {
            // The session could not be released cleanly: make sure it is not handed out again with the locks still held.
            LogSessionLost(_logger, e, _options.NodeId);
            NpgsqlConnection.ClearPool(connection);
        }
        finally
        {
            await connection.DisposeAsync();
        }
    }

    private async Task<bool> DelayAsync(TimeSpan delay, CancellationToken cancellationToken)
    {
        try
        {
            await Task.Delay(delay, _time, cancellationToken);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    private static async Task ExecuteAsync(NpgsqlConnection connection, string sql, CancellationToken cancellationToken, params NpgsqlParameter[] parameters) =>
        await ProjectionRunner.ExecuteAsync(connection, null, sql, cancellationToken, parameters);

    private static async Task<T> ScalarAsync<T>(NpgsqlConnection connection, string sql, CancellationToken cancellationToken, params NpgsqlParameter[] parameters)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        command.Parameters.AddRange(parameters);
        return (T)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    private static NpgsqlParameter Namespace() => new NpgsqlParameter<int>("namespace", AdvisoryLockNamespace);
    private static NpgsqlParameter Name(ProjectionRunner runner) => ProjectionRunner.Text("name", runner.Name);
    private NpgsqlParameter Node() => ProjectionRunner.Text("node_id", _options.NodeId);

    private static ulong Rank(string nodeId, string projection) =>
        BitConverter.ToUInt64(SHA256.HashData(Encoding.UTF8.GetBytes(nodeId + "\n" + projection)), 0);

    /// <summary>A running loop of an owned projection and the means to stop it after its current batch.</summary>
    private sealed class OwnedLoop
    {
        private readonly CancellationTokenSource _stop;

        private OwnedLoop(CancellationTokenSource stop, Task task) => (_stop, Task) = (stop, task);

        public Task Task { get; }

        public static OwnedLoop Start(ProjectionRunner runner, CancellationToken session, Func<ProjectionRunner, CancellationToken, CancellationToken, Task> body)
        {
            var stop = CancellationTokenSource.CreateLinkedTokenSource(session);
            return new OwnedLoop(stop, Task.Run(() => body(runner, session, stop.Token), CancellationToken.None));
        }

        public async Task StopAsync()
        {
            await _stop.CancelAsync();
            try
            {
                await Task;
            }
            catch (OperationCanceledException)
            {
                // Stopped.
            }
            finally
            {
                _stop.Dispose();
            }
        }
    }

    /// <summary>A wake-up that is not lost if it comes while the loop is busy: the next wait returns at once.</summary>
    private sealed class Signal
    {
        private TaskCompletionSource _next = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Set() => Volatile.Read(ref _next).TrySetResult();

        /// <summary>Waits for a wake-up or the timeout; false when cancelled.</summary>
        public async Task<bool> WaitAsync(TimeSpan timeout, TimeProvider time, CancellationToken cancellationToken)
        {
            var current = Volatile.Read(ref _next);
            try
            {
                await current.Task.WaitAsync(timeout, time, cancellationToken);
            }
            catch (TimeoutException)
            {
                return true;
            }
            catch (OperationCanceledException)
            {
                return false;
            }

            Interlocked.CompareExchange(ref _next, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously), current);
            return true;
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Node {Node}: the ownership session ended; every projection loop of this node stopped and it reconnects.")]
    private static partial void LogSessionLost(ILogger logger, Exception exception, string node);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Node {Node}: another session holds this node's lock (a duplicate node id, or a session of this node not yet gone).")]
    private static partial void LogNodeLockHeld(ILogger logger, string node);

    [LoggerMessage(Level = LogLevel.Information, Message = "Projection {Projection}: node {Node} took ownership ({LiveNodes} live nodes).")]
    private static partial void LogTookOwnership(ILogger logger, string projection, string node, long liveNodes);

    [LoggerMessage(Level = LogLevel.Information, Message = "Projection {Projection}: node {Node} released ownership to spread the load ({LiveNodes} live nodes).")]
    private static partial void LogReleased(ILogger logger, string projection, string node, long liveNodes);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Projection {Projection}: a batch failed for a reason outside the projection; it will be retried.")]
    private static partial void LogBatchError(ILogger logger, Exception exception, string projection);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Node {Node}: the LISTEN connection was lost; polling until it is back.")]
    private static partial void LogListenerLost(ILogger logger, Exception exception, string node);
}
