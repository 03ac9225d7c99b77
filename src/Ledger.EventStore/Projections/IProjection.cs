using Npgsql;

namespace Ledger.EventStore.Projections;

/// <summary>
/// An asynchronous projection: a read model kept in its own tables, fed from the global feed by the projection daemon in
/// batches. Each batch is applied in one transaction together with the projection's checkpoint, so every event's effect
/// lands exactly once, across crashes and failovers. Rebuilds replay the whole feed into shadow copies of
/// <see cref="Tables"/> while the live tables keep answering, then swap them in atomically.
/// </summary>
public interface IProjection
{
    /// <summary>Stable name: the checkpoint's key and what operators type (<c>factory-throughput</c>).</summary>
    string Name { get; }

    /// <summary>
    /// The tables this projection owns, schema-qualified (<c>ledger.factory_daily</c>). The projection's migrations create
    /// them; a rebuild creates <c>LIKE … INCLUDING ALL</c> shadow copies, fills them, and renames them into place.
    /// </summary>
    IReadOnlyList<string> Tables { get; }

    /// <summary>
    /// Applies events in feed order. Write only to <see cref="ProjectionBatch.Table"/> names: during a rebuild they
    /// point at the shadow tables. Throwing stops the projection at this batch in a visible failed state.
    /// </summary>
    Task ApplyAsync(ProjectionBatch batch, CancellationToken cancellationToken);
}

/// <summary>One batch of events for a projection, with the transaction that will also move its checkpoint.</summary>
public sealed class ProjectionBatch(
    NpgsqlConnection connection, NpgsqlTransaction transaction, IReadOnlyList<RecordedEvent> events,
    Func<string, string> table)
{
    /// <summary>The daemon's connection.</summary>
    public NpgsqlConnection Connection { get; } = connection;

    /// <summary>The transaction the checkpoint moves in: use it for every write.</summary>
    public NpgsqlTransaction Transaction { get; } = transaction;

    /// <summary>The events, in feed order.</summary>
    public IReadOnlyList<RecordedEvent> Events { get; } = events;

    /// <summary>
    /// The physical, quoted name to use in SQL for one of the projection's <see cref="IProjection.Tables"/> (the live table,
    /// or its shadow during a rebuild). SQL files write <c>{ledger.factory_daily}</c>; see <see cref="Sql"/>.
    /// </summary>
    public string Table(string logicalName) => table(logicalName);

    /// <summary>Replaces every <c>{schema.table}</c> placeholder in <paramref name="sql"/> by its physical name.</summary>
    public string Sql(string sql)
    {
        ArgumentNullException.ThrowIfNull(sql);
        return System.Text.RegularExpressions.Regex.Replace(sql, @"\{([a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*)\}", m => table(m.Groups[1].Value));
    }

    /// <summary>A command on the batch's connection and transaction, with table placeholders resolved.</summary>
    public NpgsqlCommand CreateCommand(string sql) => new(Sql(sql), Connection, Transaction);
}
