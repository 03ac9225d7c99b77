namespace Ledger.EventStore;

/// <summary>How the store appends.</summary>
public sealed class EventStoreOptions
{
    /// <summary>
    /// Concurrent appends are coalesced into one transaction (group commit) up to this many requests. Each request keeps
    /// its own atomicity: a conflicting request never fails the others in its batch.
    /// </summary>
    public int MaxBatchRequests { get; set; } = 256;

    /// <summary>A batch stops taking requests once it holds this many events (a single larger request still runs alone).</summary>
    public int MaxBatchEvents { get; set; } = 4_000;

    /// <summary>How many batches may be in flight at once; two lets one batch be built while the other commits.</summary>
    public int Writers { get; set; } = 2;

    /// <summary>Appends waiting for a writer beyond this many make callers wait (back-pressure instead of unbounded memory).</summary>
    public int QueueCapacity { get; set; } = 10_000;

    /// <summary>How often a batch that hit a serialization failure or deadlock is tried again before its requests fail.</summary>
    public int TransientRetries { get; set; } = 3;

    /// <summary>
    /// Read models updated in the same transaction as the append: Marten inline projections (<c>IProjection</c>), handed each
    /// batch's events by the store as Marten hands them over (before positions are drawn, the stream's committed history
    /// still without them), their writes queued into a Marten session on the append's transaction. If one throws, the
    /// append fails and nothing is stored (when the batch held several requests, each is retried alone so that only the
    /// request whose events made the projection fail is refused). Events arrive as <see cref="RecordedEvent.FromSession"/>
    /// reads them.
    /// </summary>
    public IList<global::Marten.Events.Projections.IProjection> InlineProjections { get; } = [];

    /// <summary>
    /// Read models run by Marten's async daemon in HotCold mode (one node at a time runs each; another takes over when its
    /// process dies), each as a <see cref="Projections.MartenSqlProjection"/> named <see cref="Projections.IProjection.Name"/>.
    /// Empty: this store runs no projection daemon of Marten's (only the high-water detection).
    /// </summary>
    public IList<Projections.IProjection> AsyncProjections { get; } = [];

    /// <summary>
    /// Read models of <see cref="AsyncProjections"/> (by name) that the daemon does not run on this node when it starts,
    /// while the integration subscriptions and the other read models run: each waits for
    /// <see cref="EventStore.FillHeldProjectionsAsync"/>, which fills it by the rebuild's bulk replay if the daemon never
    /// ran it and then lets the daemon run it from there (`ledger run` seeding a new ledger: docs/projections.md, "Held
    /// read models").
    /// </summary>
    public ISet<string> HeldProjections { get; } = new HashSet<string>(StringComparer.Ordinal);

    /// <summary>
    /// This node's name among the nodes sharing the database: shown as the owner of the projections it runs. Unique per
    /// process (several nodes may run on one machine).
    /// </summary>
    public string NodeId { get; set; } = $"{Environment.MachineName}-{Environment.ProcessId}";

    /// <summary>
    /// Work each node does per read model of <see cref="AsyncProjections"/> whenever its
    /// <see cref="Projections.ProjectionSupervisor"/> wakes up (an operator's action, or the slow poll): e.g. rebuilds.
    /// </summary>
    public IList<Projections.IProjectionMaintenance> ProjectionMaintenance { get; } = [];

    /// <summary>
    /// Whether this node takes part in rebuilding <see cref="AsyncProjections"/> (default true): when an operator asks
    /// (<see cref="Projections.ProjectionAdmin.RequestRebuildAsync"/>), one node at a time replays the read model into
    /// shadow tables and swaps them in (<see cref="Projections.ProjectionRebuild"/>). Off only where a test drives the
    /// rebuild itself.
    /// </summary>
    public bool RunsRebuilds { get; set; } = true;

    /// <summary>How this node rebuilds (batch sizes, the bulk replay, the swap's lock timeout).</summary>
    public Projections.ProjectionRebuildOptions Rebuilds { get; set; } = new();

    /// <summary>Where Marten's projection coordinator and daemon log (leadership, failing batches).</summary>
    public Microsoft.Extensions.Logging.ILoggerFactory LoggerFactory { get; set; } = Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance;

    /// <summary>
    /// Where the store's instruments (<see cref="EventStoreInstrumentation.MeterName"/>) get their meter: the host's, so
    /// that its exporter sees them and two hosts in one process keep theirs apart. Null: a meter of the store's own.
    /// </summary>
    public System.Diagnostics.Metrics.IMeterFactory? MeterFactory { get; set; }

    /// <summary>
    /// The event types Marten knows, CLR type → stored type name (<c>unit-built.v1</c>): Marten's event type aliases.
    /// When given, an append of any other type name is refused. Empty: a generic store that takes any type name (tests).
    /// </summary>
    public IReadOnlyDictionary<Type, string> EventTypes { get; set; } = new Dictionary<Type, string>();

    /// <summary>
    /// Whether this store runs Marten's high-water detection, which moves the feed's head (on by default, so the feed
    /// advances wherever a store runs; a one-shot tool that only reads stored history can turn it off). A store with
    /// <see cref="AsyncProjections"/> never runs it itself: the daemon started by
    /// <see cref="EventStore.StartProjectionsAsync"/> runs its own high-water agent, which its shards follow.
    /// </summary>
    public bool DetectHighWater { get; set; } = true;

    /// <summary>The clock for recorded-at times.</summary>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;
}
