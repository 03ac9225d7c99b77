using JasperFx;
using JasperFx.Events.Daemon;
using Microsoft.Extensions.Logging;
using Npgsql;
using NpgsqlTypes;

namespace Ledger.EventStore.Projections;

/// <summary>
/// Work a node does for one read model each time its <see cref="ProjectionSupervisor"/> wakes up (an operator's action
/// on it, or the slow poll). The supervisor calls every registered maintenance for every read model of the store, one
/// at a time, on every node; a maintenance that must act only where the read model runs checks
/// <see cref="ProjectionWakeUp.RunsHere"/>. An exception is logged and the next wake-up calls it again.
/// </summary>
public interface IProjectionMaintenance
{
    /// <summary>Does this node's share of the work for <paramref name="wakeUp"/>'s read model.</summary>
    Task RunAsync(ProjectionWakeUp wakeUp, CancellationToken cancellationToken);
}

/// <summary>One read model at one wake-up of a node's <see cref="ProjectionSupervisor"/>.</summary>
/// <param name="Name">The read model (<see cref="IProjection.Name"/>).</param>
/// <param name="ShardName">Its shard in Marten's daemon (<c>name:All</c>).</param>
/// <param name="Daemon">This node's Marten daemon, or null while the store's coordinator has none yet.</param>
/// <param name="RunsHere">Whether this node holds the shard's HotCold ownership lock, so that its daemon runs the shard
/// here (or starts it again at once).</param>
/// <param name="Notified">True when an operator's action on this read model woke the supervisor, false for the poll.</param>
public sealed record ProjectionWakeUp(string Name, string ShardName, IProjectionDaemon? Daemon, bool RunsHere, bool Notified);

/// <summary>
/// Acts, on one node, on what operators record for the read models this node's store runs on Marten's daemon
/// (<see cref="ProjectionAdmin"/>: retry, skip, rebuild requests). It makes sure each has its row in
/// <c>ledger.projection_checkpoints</c> (so the status lists it before its first batch), listens on <c>ledger_projections</c> on a connection
/// of its own (reconnecting when it is lost) and polls slowly as a backstop for a notification missed while it was
/// disconnected. On each wake-up it runs the <see cref="IProjectionMaintenance"/> hooks and restarts, where this node owns
/// it and its agent is paused or stopped, the shard of every read model whose row says running again: a retried or
/// skipped read model continues at once, instead of at Marten's next health check. Where this node does not own a shard
/// it removes an idle agent left behind, so that nothing starts it again beside the owner.
/// </summary>
public sealed partial class ProjectionSupervisor : IAsyncDisposable
{
    /// <summary>The channel <see cref="ProjectionAdmin"/> notifies with the read model's name as payload.</summary>
    public const string Channel = "ledger_projections";

    private readonly NpgsqlDataSource _dataSource;
    private readonly IReadOnlyList<string> _projections;
    private readonly Func<IProjectionDaemon?> _daemon;
    private readonly Func<string, bool> _owns;
    private readonly IReadOnlyList<IProjectionMaintenance> _maintenance;
    private readonly ILogger _logger;
    private readonly TimeSpan _pollInterval;
    private readonly CancellationTokenSource _stopping = new();
    private Task _running = Task.CompletedTask;

    /// <summary>Creates the supervisor; <see cref="Start"/> starts it.</summary>
    /// <param name="dataSource">The process's data source.</param>
    /// <param name="projections">The read models this node's store runs.</param>
    /// <param name="daemon">This node's Marten daemon, or null while there is none yet.</param>
    /// <param name="owns">Whether this node holds a read model's ownership lock now (by name).</param>
    /// <param name="maintenance">The hooks to run per read model on each wake-up.</param>
    /// <param name="logger">Where it logs.</param>
    /// <param name="pollInterval">The backstop poll (default 15 s).</param>
    public ProjectionSupervisor(
        NpgsqlDataSource dataSource, IReadOnlyList<string> projections, Func<IProjectionDaemon?> daemon, Func<string, bool> owns,
        IReadOnlyList<IProjectionMaintenance> maintenance, ILogger logger, TimeSpan? pollInterval = null)
    {
        _dataSource = dataSource ?? throw new ArgumentNullException(nameof(dataSource));
        _projections = projections ?? throw new ArgumentNullException(nameof(projections));
        _daemon = daemon ?? throw new ArgumentNullException(nameof(daemon));
        _owns = owns ?? throw new ArgumentNullException(nameof(owns));
        _maintenance = maintenance ?? throw new ArgumentNullException(nameof(maintenance));
        _logger = logger ?? throw new ArgumentNullException(nameof(logger));
        _pollInterval = pollInterval ?? TimeSpan.FromSeconds(15);
    }

    /// <summary>Starts listening and polling in the background.</summary>
    public void Start()
    {
        using (ExecutionContext.SuppressFlow())
        {
            _running = Task.Run(() => RunAsync(_stopping.Token));
        }
    }

    private async Task RunAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                await ListenAsync(cancellationToken);
            }
            catch (Exception e) when (!cancellationToken.IsCancellationRequested)
            {
                // The database went away or restarted: notifications sent meanwhile are lost, so the first thing after
                // reconnecting is a wake-up of every read model.
                LogDisconnected(_logger, e);
                try
                {
                    await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
            catch (Exception) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
        }
    }

    private async Task ListenAsync(CancellationToken cancellationToken)
    {
        var named = new HashSet<string>(StringComparer.Ordinal);
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        connection.Notification += (_, e) =>
        {
            if (e.Channel == Channel) lock (named) named.Add(e.Payload);
        };
        await using (var listen = new NpgsqlCommand($"listen {Channel}", connection))
        {
            await listen.ExecuteNonQueryAsync(cancellationToken);
        }

        await using (var ensure = new NpgsqlCommand(ProjectionSql.RowsEnsure, connection))
        {
            ensure.Parameters.Add(new NpgsqlParameter<string[]>("names", NpgsqlDbType.Array | NpgsqlDbType.Text) { TypedValue = [.. _projections] });
            await ensure.ExecuteNonQueryAsync(cancellationToken);
        }

        await WakeAsync(_projections, notified: false, cancellationToken);
        while (!cancellationToken.IsCancellationRequested)
        {
            var notifiedNow = await connection.WaitAsync(_pollInterval, cancellationToken);
            string[] names;
            lock (named)
            {
                names = [.. named.Where(_projections.Contains)];
                named.Clear();
            }

            if (notifiedNow && names.Length == 0) continue;
            await WakeAsync(notifiedNow ? names : _projections, notifiedNow, cancellationToken);
        }
    }

    /// <summary>Runs the hooks and restarts paused shards that may run again, for each of <paramref name="names"/>.</summary>
    private async Task WakeAsync(IReadOnlyCollection<string> names, bool notified, CancellationToken cancellationToken)
    {
        var failed = await ReadFailedAsync(names, cancellationToken);
        var daemon = _daemon();
        foreach (var name in names)
        {
            var shard = MartenSetup.ShardName(name);
            var owns = _owns(name);
            var agent = daemon?.CurrentAgents().FirstOrDefault(a => a.Name.Identity == shard);
            var wakeUp = new ProjectionWakeUp(name, shard, daemon, owns, notified);
            foreach (var maintenance in _maintenance)
            {
                try
                {
                    await maintenance.RunAsync(wakeUp, cancellationToken);
                }
                catch (Exception e) when (!cancellationToken.IsCancellationRequested)
                {
                    LogMaintenanceFailed(_logger, e, maintenance.GetType().Name, name);
                }
            }

            if (daemon is null || agent is null || agent.Status == AgentStatus.Running) continue;
            if (!owns)
            {
                // Left here when this node lost the lock (frozen past the ownership timeout, or cut off): paused by a failed
                // batch, or stopped by Marten's progression guard on meeting the new owner's progress. Marten's coordinator
                // stops only running agents where it lost the lock; removing this one keeps anything from restarting it
                // beside the owner (issue 13).
                try
                {
                    await daemon.StopAgentAsync(shard);
                    LogRemoved(_logger, name, agent.Status);
                }
                catch (Exception e) when (!cancellationToken.IsCancellationRequested)
                {
                    LogRemoveFailed(_logger, e, name);
                }

                continue;
            }

            if (failed.Contains(name)) continue;
            try
            {
                // Paused: after a failed batch. Stopped: the progression guard refused a batch because another node had
                // moved the read model on (a previous owner's last batch, committed after this node took over); Marten's
                // coordinator restarts only paused agents, so without this the read model would stand still here.
                await daemon.StartAgentAsync(shard, cancellationToken);
                LogRestarted(_logger, name, notified);
            }
            catch (Exception e) when (!cancellationToken.IsCancellationRequested)
            {
                // Marten's coordinator starts paused shards again at its next health check in any case.
                LogRestartFailed(_logger, e, name);
            }
        }
    }

    private async Task<HashSet<string>> ReadFailedAsync(IReadOnlyCollection<string> names, CancellationToken cancellationToken)
    {
        await using var command = _dataSource.CreateCommand(
            "select name from ledger.projection_checkpoints where name = any(@names) and status = 'failed'");
        command.Parameters.Add(new NpgsqlParameter<string[]>("names", NpgsqlDbType.Array | NpgsqlDbType.Text) { TypedValue = [.. names] });
        var failed = new HashSet<string>(StringComparer.Ordinal);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken)) failed.Add(reader.GetString(0));
        return failed;
    }

    /// <summary>Stops listening and polling (the hooks' current call is cancelled).</summary>
    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync();
        try
        {
            await _running;
        }
        catch (OperationCanceledException)
        {
            // Stopped while waiting.
        }

        _stopping.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Projection supervisor lost its connection; reconnecting.")]
    private static partial void LogDisconnected(ILogger logger, Exception exception);

    [LoggerMessage(Level = LogLevel.Error, Message = "Projection maintenance {Maintenance} failed for {Projection}; it runs again at the next wake-up.")]
    private static partial void LogMaintenanceFailed(ILogger logger, Exception exception, string maintenance, string projection);

    [LoggerMessage(Level = LogLevel.Information, Message = "Projection {Projection}: restarted its paused or stopped shard (operator action: {Notified}).")]
    private static partial void LogRestarted(ILogger logger, string projection, bool notified);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Projection {Projection}: restarting its paused shard failed.")]
    private static partial void LogRestartFailed(ILogger logger, Exception exception, string projection);

    [LoggerMessage(Level = LogLevel.Information, Message = "Projection {Projection}: removed its {Status} agent, left here after this node lost the projection's lock.")]
    private static partial void LogRemoved(ILogger logger, string projection, AgentStatus status);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Projection {Projection}: removing the agent left after this node lost the projection's lock failed.")]
    private static partial void LogRemoveFailed(ILogger logger, Exception exception, string projection);
}
