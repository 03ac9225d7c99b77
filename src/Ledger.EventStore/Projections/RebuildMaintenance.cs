using Microsoft.Extensions.Logging;

namespace Ledger.EventStore.Projections;

/// <summary>
/// The node's share of rebuilds: at each wake-up of its <see cref="ProjectionSupervisor"/> (an operator's request is a
/// notification; the slow poll catches one missed), it runs <see cref="ProjectionRebuild.RunIfRequestedAsync"/> for the
/// read model on a task of its own, unless one is still running here. Every node does this: the rebuild's advisory lock
/// lets one of them work, and when that node goes, the next wake-up elsewhere carries on from the shadow position.
/// </summary>
/// <remarks>
/// Wake-ups that come close together (an operator rebuilding every read model, or the poll) are gathered for
/// <see cref="GatherDelay"/> and started as one group (<see cref="ProjectionRebuild.StartIfRequested"/>), so that the
/// bulk replays of the read models this node rebuilds share one read of the store.
/// </remarks>
internal sealed partial class RebuildMaintenance : IProjectionMaintenance, IAsyncDisposable
{
    /// <summary>How long a first wake-up waits for others before their rebuilds start together.</summary>
    public static readonly TimeSpan GatherDelay = TimeSpan.FromMilliseconds(200);

    private readonly ProjectionRebuild _rebuild;
    private readonly IReadOnlyDictionary<string, IProjection> _projections;
    private readonly Func<string, bool> _held;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stopping = new();
    private readonly Dictionary<string, Task> _running = new(StringComparer.Ordinal);
    private readonly List<IProjection> _gathering = [];
    private Task _gather = Task.CompletedTask;
    private readonly Lock _lock = new();

    /// <param name="rebuild">The rebuilder.</param>
    /// <param name="projections">The store's asynchronous read models.</param>
    /// <param name="held">
    /// Whether a read model is held on this node now (<see cref="EventStoreOptions.HeldProjections"/>): its fill, not this
    /// maintenance, deals with its rebuild request (carries on a fill's left behind), until it is released.
    /// </param>
    /// <param name="logger">Where it logs.</param>
    public RebuildMaintenance(ProjectionRebuild rebuild, IEnumerable<IProjection> projections, Func<string, bool> held, ILogger logger)
    {
        _rebuild = rebuild;
        _projections = projections.ToDictionary(p => p.Name, StringComparer.Ordinal);
        _held = held;
        _logger = logger;
    }

    public Task RunAsync(ProjectionWakeUp wakeUp, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(wakeUp);
        if (!_projections.TryGetValue(wakeUp.Name, out var projection)) return Task.CompletedTask;
        // The next wake-up after the release (the slow poll at the latest) runs what the fill left.
        if (_held(wakeUp.Name)) return Task.CompletedTask;
        lock (_lock)
        {
            if (_stopping.IsCancellationRequested) return Task.CompletedTask;
            if (_running.TryGetValue(wakeUp.Name, out var running) && !running.IsCompleted) return Task.CompletedTask;
            if (_gathering.Contains(projection)) return Task.CompletedTask;
            _gathering.Add(projection);
            if (_gathering.Count > 1) return Task.CompletedTask;
            // A rebuild takes minutes; the supervisor's loop, which also restarts retried shards, must not wait for it.
            using (ExecutionContext.SuppressFlow())
            {
                _gather = Task.Run(StartGatheredAsync, CancellationToken.None);
            }
        }

        return Task.CompletedTask;
    }

    private async Task StartGatheredAsync()
    {
        try
        {
            await Task.Delay(GatherDelay, _stopping.Token);
        }
        catch (OperationCanceledException)
        {
            return;
        }

        lock (_lock)
        {
            if (_stopping.IsCancellationRequested) return;
            IProjection[] group = [.. _gathering];
            _gathering.Clear();
            var runs = _rebuild.StartIfRequested(group, _stopping.Token);
            for (var i = 0; i < group.Length; i++) _running[group[i].Name] = ObserveAsync(group[i], runs[i]);
        }
    }

    private async Task ObserveAsync(IProjection projection, Task<bool> run)
    {
        try
        {
            if (await run) LogSwapped(_logger, projection.Name);
        }
        catch (Exception) when (_stopping.IsCancellationRequested)
        {
            // The node is stopping: the rebuild lock goes with the session, and another node carries on.
        }
        catch (Exception e)
        {
            // An infrastructure error: the next wake-up (here or on another node) carries on from the shadow position.
            LogInterrupted(_logger, e, projection.Name);
        }
    }

    public async ValueTask DisposeAsync()
    {
        Task[] running;
        lock (_lock)
        {
            _stopping.Cancel();
            running = [.. _running.Values, _gather];
        }

        await Task.WhenAll(running);
        _stopping.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Projection {Projection}: the rebuild swapped its new tables in on this node.")]
    private static partial void LogSwapped(ILogger logger, string projection);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Projection {Projection}: the rebuild on this node was interrupted; the next wake-up carries on from where it stood.")]
    private static partial void LogInterrupted(ILogger logger, Exception exception, string projection);
}
