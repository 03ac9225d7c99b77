namespace Ledger.EventStore.Projections;

/// <summary>
/// A projection that a rebuild can fill in one pass (a <em>bulk replay</em>) before the usual replay batches: the daemon
/// reads every event of the feed up to a horizon once, one stream after another, and the projection folds them in memory
/// with the same per-event code as <see cref="IProjection.ApplyAsync"/> and writes its empty shadow tables (binary COPY
/// suits it). The replay batches then carry on from the horizon and the swap is the usual one.
/// </summary>
/// <remarks>
/// Reading stream by stream instead of in feed order is only equivalent for a projection whose effect of an event depends
/// on nothing but the earlier events of the same stream, its totals being sums (order does not matter), and whose
/// tables' rows depend on no global order other than what the events carry (a rank can be computed once at the end).
/// The store keeps every stream in version order in the feed, so a stream's events reach the fold in the same order
/// either way. A projection that throws during a bulk replay is rebuilt again by replay batches, which stop at the exact
/// event that throws.
/// </remarks>
public interface IBulkRebuildProjection : IProjection
{
    /// <summary>
    /// Fills the projection's empty shadow tables: folds <see cref="BulkReplay.ReadStreamsAsync"/> and writes with
    /// <see cref="BulkReplay.WriteAsync"/>, holding no more than a bounded amount in memory between writes.
    /// </summary>
    /// <remarks>
    /// The shadow tables have no indexes (no primary key either) while the events are being read: they are built when
    /// the enumeration has ended, before the writes that follow it. So writes made while reading must be plain inserts
    /// (COPY); an <c>on conflict</c> or a look-up that needs an index belongs in the writes after the last event.
    /// </remarks>
    Task ReplayAsync(BulkReplay replay, CancellationToken cancellationToken);
}

/// <summary>One bulk replay of a rebuild: the events to fold and a way to write the shadow tables.</summary>
public sealed class BulkReplay
{
    private readonly Func<CancellationToken, IAsyncEnumerable<IReadOnlyList<RecordedEvent>>> _streams;
    private readonly Func<Func<ProjectionBatch, CancellationToken, Task>, CancellationToken, Task> _write;
    private int _read;

    internal BulkReplay(
        Func<CancellationToken, IAsyncEnumerable<IReadOnlyList<RecordedEvent>>> streams,
        Func<Func<ProjectionBatch, CancellationToken, Task>, CancellationToken, Task> write)
    {
        _streams = streams;
        _write = write;
    }

    /// <summary>
    /// Every event of the feed up to the replay's horizon (of <see cref="IProjection.EventTypes"/>), one stream
    /// at a time, each stream's events in version order, read in one pass from one snapshot, without metadata and hash
    /// (see <see cref="StreamScan"/>). Can be enumerated once.
    /// </summary>
    public IAsyncEnumerable<IReadOnlyList<RecordedEvent>> ReadStreamsAsync(CancellationToken cancellationToken = default)
    {
        if (Interlocked.Exchange(ref _read, 1) == 1) throw new InvalidOperationException("A bulk replay's events can be read once.");
        return _streams(cancellationToken);
    }

    /// <summary>
    /// Runs <paramref name="write"/> in a transaction of its own on the shadow tables (<see cref="ProjectionBatch.Table"/>
    /// names them; the batch has no events) and commits it. It first checks, under the checkpoint's lock, that this
    /// replay is still the projection's current rebuild, and throws <see cref="BulkReplayAbandonedException"/> if not (a
    /// restart or another owner took over): nothing is written then.
    /// </summary>
    public Task WriteAsync(Func<ProjectionBatch, CancellationToken, Task> write, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(write);
        return _write(write, cancellationToken);
    }
}

/// <summary>The bulk replay is no longer the projection's current rebuild; it stops without writing.</summary>
public sealed class BulkReplayAbandonedException : Exception
{
    /// <summary>Creates the exception.</summary>
    public BulkReplayAbandonedException()
        : base("The bulk replay is no longer the projection's current rebuild.")
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    public BulkReplayAbandonedException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and an inner exception.</summary>
    public BulkReplayAbandonedException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
