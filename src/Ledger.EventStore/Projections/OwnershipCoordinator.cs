using JasperFx.Core;
using JasperFx.Events.Daemon;
using JasperFx.Events.Projections;
using Marten;
using Marten.Events.Daemon.Coordination;
using Marten.Storage;
using Microsoft.Extensions.Logging;
using Npgsql;
using Polly;

namespace Ledger.EventStore.Projections;

/// <summary>
/// Marten's HotCold coordination (JasperFx's leadership loop and per-shard distributor, as Marten's own
/// <see cref="ProjectionCoordinator"/> builds them) with one difference: the shards' advisory locks are
/// <see cref="OwnershipLock"/>'s, whose session PostgreSQL ends when the node stops answering, so a frozen owner hands its
/// read models over as a dead one does (issue 13). The lock keys are Marten's, so <see cref="MartenSetup.OwnershipLockKey"/>
/// still names the owner in <c>pg_locks</c>, and a node of an older release on the same database still excludes this one.
/// </summary>
/// <remarks>
/// Marten builds its distributor and lock in private code (<c>ProjectionCoordinator.BuildDistributor</c> in 9.62.0) with
/// no option for the lock's session, hence this subclass of the same base. Daemons still come from Marten's coordinator
/// (its daemon cache; it is never started, so it takes no lock).
/// </remarks>
internal sealed class OwnershipCoordinator : ProjectionCoordinatorBase, IAsyncDisposable
{
    private readonly DocumentStore _store;
    private readonly NpgsqlDataSource _dataSource;
    private readonly OwnershipLock _lock;
    private readonly ILogger _logger;
    private readonly ILoggerFactory _loggers;
    private readonly Lock _daemonGate = new();
    private readonly HeldShards _held;
    private ProjectionCoordinator _daemons;
    private IProjectionDaemon? _daemon;
    private IDisposable? _wakeup;

    public OwnershipCoordinator(DocumentStore store, NpgsqlDataSource dataSource, ILoggerFactory loggers, IEnumerable<string>? held = null)
        : this(store, dataSource, new OwnershipLock(dataSource, loggers.CreateLogger<OwnershipLock>()), loggers,
            new HeldShards(held ?? []))
    {
    }

    private OwnershipCoordinator(DocumentStore store, NpgsqlDataSource dataSource, OwnershipLock ownershipLock, ILoggerFactory loggers, HeldShards held)
        : base(
            new SingleTenantProjectionDistributor(
                () => (IProjectionDatabase)store.Storage.Database,
                // A held shard is left out of the distribution: no node-local agent starts for it and this node takes no
                // lock for it (the fill takes it itself, TryOwnAsync), until Release.
                () => store.Options.Projections.AllShards().Select(s => s.Name).Where(name => !held.Contains(name.Name)),
                _ => ownershipLock,
                (database, names, lockId) => new ProjectionSet(lockId, (MartenDatabase)database, names),
                store.Options.Events.DatabaseSchemaName,
                store.Options.Projections.DaemonLockId),
            loggers.CreateLogger<ProjectionCoordinator>(),
            // Marten's own pipeline is internal; a start that fails is logged, its lock released, and tried again at the
            // next poll, which is soon enough (MartenSetup: LeadershipPollingTime).
            ResiliencePipeline.Empty,
            store.Options.Events.TimeProvider,
            store.Options.Projections.LeadershipPollingTime.Milliseconds(),
            store.Options.Projections.AgentPauseTime,
            store.Options.Projections.HealthCheckPollingTime)
    {
        _store = store;
        _dataSource = dataSource;
        _lock = ownershipLock;
        _loggers = loggers;
        _logger = loggers.CreateLogger<ProjectionCoordinator>();
        _daemons = new ProjectionCoordinator(store, loggers.CreateLogger<ProjectionCoordinator>());
        _held = held;
    }

    /// <summary>The read models (projection names) held now: the daemon does not run them on this node.</summary>
    public IReadOnlyCollection<string> Held => _held.Names;

    /// <summary>Whether <paramref name="projectionName"/> is held now (<see cref="Held"/>).</summary>
    public bool Holds(string projectionName) => _held.Contains(projectionName);

    /// <summary>
    /// Lets the daemon run <paramref name="projectionName"/> again: the leadership loop's next poll
    /// (LeadershipPollingTime) competes for its lock and starts it from its progression where it wins.
    /// </summary>
    public void Release(string projectionName) => _held.Remove(projectionName);

    /// <summary>
    /// Takes <paramref name="projectionName"/>'s ownership lock, as the daemon would before running it, for a fill of the
    /// held read model: while this node holds it no other node's daemon runs the shard. False: another node owns it.
    /// </summary>
    public Task<bool> TryOwnAsync(string projectionName, CancellationToken cancellationToken) =>
        _lock.TryAttainLockAsync(LockId(projectionName), cancellationToken);

    /// <summary>Lets go of a lock taken by <see cref="TryOwnAsync"/> (before <see cref="Release"/>, so that the leadership loop competes for it afresh).</summary>
    public Task DisownAsync(string projectionName) => _lock.ReleaseLockAsync(LockId(projectionName));

    private int LockId(string projectionName) =>
        ProjectionLockIds.Compute(_store.Options.Events.DatabaseSchemaName, new ShardName(projectionName), _store.Options.Projections.DaemonLockId);

    /// <summary>
    /// Whether this node holds <paramref name="projectionName"/>'s lock now, by a session that answered within the
    /// timeout: only then may its shard run here.
    /// </summary>
    public bool Owns(string projectionName) => _lock.HasLock(LockId(projectionName));

    public override IProjectionDaemon DaemonForMainDatabase()
    {
        lock (_daemonGate)
        {
            if (_daemon is not null) return _daemon;
            // Each daemon's high-water agent takes its wake-up from the store's options as it is built (Marten 9.62.0 left
            // its own LISTEN connection open after the daemon: one more per restart, and an error with its stack trace when
            // the database stopped first). The wake-up is the store's HighWaterWakeup (MartenSetup: Marten's own is off), one
            // per daemon, ended with it by this coordinator, which owns the daemon.
            EndWakeup();
            var wakeup = new HighWaterWakeup(_dataSource, MartenSetup.HighWaterSpacing, _loggers.CreateLogger<HighWaterWakeup>());
            _store.Options.Projections.Wakeup = wakeup;
            _wakeup = wakeup;
            _daemon = _daemons.DaemonForMainDatabase();
            return _daemon;
        }
    }

    public override ValueTask<IProjectionDaemon> DaemonForDatabase(string databaseIdentifier) => ValueTask.FromResult(DaemonForMainDatabase());

    public override ValueTask<IReadOnlyList<IProjectionDaemon>> AllDaemonsAsync() => ValueTask.FromResult<IReadOnlyList<IProjectionDaemon>>([DaemonForMainDatabase()]);

    protected override IProjectionDaemon ResolveDaemon(IProjectionSet set) => DaemonForMainDatabase();

    protected override IReadOnlyList<IProjectionDaemon> ResolvedDaemons()
    {
        lock (_daemonGate) return _daemon is null ? [] : [_daemon];
    }

    /// <summary>The base has disposed the daemon (on stop): a later start builds a fresh one from a fresh cache.</summary>
    protected override void ClearResolvedDaemons()
    {
        lock (_daemonGate)
        {
            _daemon = null;
            EndWakeup();
            _daemons = new ProjectionCoordinator(_store, _loggers.CreateLogger<ProjectionCoordinator>());
        }
    }

    private void EndWakeup()
    {
        _wakeup?.Dispose();
        _wakeup = null;
    }

    /// <summary>Stops the leadership loop and the agents, then ends the lock's session (which releases every lock; the base's
    /// stop has usually done so already).</summary>
    public async ValueTask DisposeAsync()
    {
        try
        {
            await StopAsync(CancellationToken.None);
        }
        catch (Exception e)
        {
            _logger.LogError(e, "Error while stopping the projection coordinator");
        }

        lock (_daemonGate) EndWakeup();
        await _lock.DisposeAsync();
    }

    /// <summary>The held projection names, read by the distributor on every poll and released one by one.</summary>
    private sealed class HeldShards(IEnumerable<string> names)
    {
        private readonly HashSet<string> _names = new(names, StringComparer.Ordinal);

        public IReadOnlyCollection<string> Names
        {
            get
            {
                lock (_names) return [.. _names];
            }
        }

        public bool Contains(string name)
        {
            lock (_names) return _names.Contains(name);
        }

        public void Remove(string name)
        {
            lock (_names) _names.Remove(name);
        }
    }
}
