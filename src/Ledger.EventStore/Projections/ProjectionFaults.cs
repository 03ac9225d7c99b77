using System.Data;
using Npgsql;

namespace Ledger.EventStore.Projections;

/// <summary>
/// Tells a read model's own fault (stop it, visibly, until an operator acts) from the infrastructure's (try again: the
/// same events will apply once the database answers). Decided by the connection's state, cancellation and SqlState,
/// never by message text.
/// </summary>
public static class ProjectionFaults
{
    /// <summary>
    /// The SQL state of the progress fence's error (migration 0011): another batch, of another node, moved the shard's
    /// progression before this one committed. Not a fault of the projection.
    /// </summary>
    public const string MovedOnSqlState = "LR002";

    /// <summary>
    /// Whether <paramref name="exception"/>, thrown while applying events on <paramref name="connection"/>, is the
    /// projection's own fault. A broken or closed connection, a cancelled apply, a serialization failure or deadlock (class
    /// 40), lack of resources (53), operator intervention such as <c>pg_terminate_backend</c> (57P), a connection error (08)
    /// and any error Npgsql calls transient are the infrastructure's.
    /// </summary>
    public static bool IsProjectionFault(Exception exception, NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(exception);
        ArgumentNullException.ThrowIfNull(connection);
        if (cancellationToken.IsCancellationRequested || exception is OperationCanceledException) return false;
        if (connection.FullState.HasFlag(ConnectionState.Broken) || connection.State != ConnectionState.Open) return false;
        if (exception is ProjectionStoppedException) return false;
        // Marten wraps the server's error; a projection's own code may too. The cause decides.
        if (MartenFailures.PostgresCause(exception) is { } postgres) return !IsInfrastructure(postgres.SqlState);
        if (MartenFailures.NpgsqlCause(exception) is { } npgsql) return !npgsql.IsTransient;
        return true;
    }

    // LR001: the batch was computed from tables a rebuild swapped out (RebuildFence); run again, it is computed anew.
    // LR002: another node moved the shard's progression first (migration 0011); run again from there, if this node owns it.
    private static bool IsInfrastructure(string sqlState) =>
        sqlState == RebuildFence.SwappedSqlState || sqlState == MovedOnSqlState || sqlState.StartsWith("40", StringComparison.Ordinal) || sqlState.StartsWith("53", StringComparison.Ordinal)
        || sqlState.StartsWith("57P", StringComparison.Ordinal) || sqlState.StartsWith("08", StringComparison.Ordinal);
}

/// <summary>
/// Thrown by <see cref="MartenSqlProjection"/> instead of applying a batch while the read model's row in
/// <c>ledger.projection_checkpoints</c> says it failed: Marten's daemon then pauses the shard again, on whichever node
/// runs it, until an operator retries or skips (<see cref="ProjectionAdmin"/>).
/// </summary>
public sealed class ProjectionStoppedException(string projection)
    : Exception($"Projection '{projection}' is stopped at a failed event until an operator retries or skips it.")
{
    /// <summary>The stopped read model.</summary>
    public string Projection { get; } = projection;
}

/// <summary>
/// Thrown by <see cref="MartenSqlProjection"/> after it recorded that the read model threw on one event: Marten's daemon
/// pauses the shard with nothing of the batch applied.
/// </summary>
public sealed class ProjectionFailedException(string projection, Guid eventId, long position, Exception cause)
    : Exception($"Projection '{projection}' failed on event {eventId} at position {position}; it stays stopped until an operator retries or skips it.", cause)
{
    /// <summary>The read model.</summary>
    public string Projection { get; } = projection;

    /// <summary>The event it threw on.</summary>
    public Guid EventId { get; } = eventId;

    /// <summary>That event's position (Marten's sequence number).</summary>
    public long Position { get; } = position;
}

/// <summary>
/// Thrown by <see cref="ProjectionAdmin.SkipAsync"/> when the projection's recorded failure does not name an event still
/// ahead of it: skipping is refused, and nothing changed.
/// </summary>
public sealed class SkipRefusedException(string message) : Exception(message);
