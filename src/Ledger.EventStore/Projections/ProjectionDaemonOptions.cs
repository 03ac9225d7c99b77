namespace Ledger.EventStore.Projections;

/// <summary>How a node's <see cref="ProjectionDaemon"/> runs.</summary>
public sealed class ProjectionDaemonOptions
{
    /// <summary>
    /// This node's id, unique among the nodes sharing the database (e.g. the host name). Shown as the owner of the
    /// projections this node runs.
    /// </summary>
    public string NodeId { get; set; } = Environment.MachineName;

    /// <summary>At most this many events per live batch (one transaction).</summary>
    public int BatchSize { get; set; } = 1000;

    /// <summary>At most this many events per batch while a rebuild replays the feed into the shadow tables.</summary>
    public int RebuildBatchSize { get; set; } = 10_000;

    /// <summary>
    /// Whether a rebuild of an <see cref="IBulkRebuildProjection"/> starts with a bulk replay (one pass over the feed up to a
    /// horizon, written with a few large writes) before its replay batches. Off: replay batches from the start, as for
    /// any other projection (tests compare the two).
    /// </summary>
    public bool BulkReplay { get; set; } = true;

    /// <summary>How often an idle projection looks at the feed when no notification arrived (the fallback to LISTEN).</summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>How often the node heartbeats on its ownership connection and rebalances which projections it owns.</summary>
    public TimeSpan OwnershipInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>A node whose heartbeat is older than this no longer counts when the projections are shared out.</summary>
    public TimeSpan NodeTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How long to wait before reconnecting after a lost connection or a transient error.</summary>
    public TimeSpan RetryDelay { get; set; } = TimeSpan.FromSeconds(1);

    internal void Validate()
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(NodeId, nameof(NodeId));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(BatchSize, nameof(BatchSize));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(RebuildBatchSize, nameof(RebuildBatchSize));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(PollInterval, TimeSpan.Zero, nameof(PollInterval));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(OwnershipInterval, TimeSpan.Zero, nameof(OwnershipInterval));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(NodeTimeout, OwnershipInterval, nameof(NodeTimeout));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(RetryDelay, TimeSpan.Zero, nameof(RetryDelay));
    }
}
