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
    /// The stored event types the read model folds (<c>unit-built.v1</c>), or null for every type. It is handed no others,
    /// wherever its events come from: Marten's daemon loads only these for its shard (<see cref="MartenSqlProjection"/>),
    /// and a rebuild's shared scan and replay batches leave the others out. So an event of another type must not change
    /// the read model's tables; <c>DeclaredEventTypesTests</c> folds every registered read model over a history of every
    /// type both ways and compares the tables. A type the store does not map is refused when the daemon is configured.
    /// </summary>
    /// <remarks>
    /// Null is the safe default for a read model that does not say (it sees everything, as before issue 15's P4); a read
    /// model that declares its types spares its shard the loading, deserializing and reading back of every other event.
    /// </remarks>
    IReadOnlyCollection<string>? EventTypes => null;

    /// <summary>
    /// Applies events in feed order. Write only to <see cref="ProjectionBatch.Table"/> names: during a rebuild they
    /// point at the shadow tables. Throwing stops the projection at this batch in a visible failed state.
    /// </summary>
    Task ApplyAsync(ProjectionBatch batch, CancellationToken cancellationToken);
}

/// <summary>
/// One batch of events for a projection. Under the ledger's own daemon the batch's connection and transaction also move
/// the checkpoint; under Marten's daemon (<see cref="MartenSqlProjection"/>) the connection only reads committed state,
/// and writes go through <see cref="ExecuteAsync"/> into Marten's batch, which moves Marten's progression.
/// </summary>
public sealed class ProjectionBatch
{
    private readonly Func<string, string> _table;
    private readonly Action<NpgsqlCommand>? _queue;

    /// <summary>A batch whose writes run on <paramref name="transaction"/> (the ledger's own daemon, bulk replays).</summary>
    public ProjectionBatch(
        NpgsqlConnection connection, NpgsqlTransaction transaction, IReadOnlyList<RecordedEvent> events, Func<string, string> table)
        : this(connection, transaction, events, table, queue: null)
    {
    }

    internal ProjectionBatch(
        NpgsqlConnection connection, NpgsqlTransaction transaction, IReadOnlyList<RecordedEvent> events, Func<string, string> table,
        Action<NpgsqlCommand>? queue)
    {
        Connection = connection;
        Transaction = transaction;
        Events = events;
        _table = table;
        _queue = queue;
    }

    /// <summary>
    /// The connection to read on. It sees the state every earlier batch committed; under Marten's daemon it is a read-only
    /// transaction of its own, so a write on it fails instead of landing outside the batch.
    /// </summary>
    public NpgsqlConnection Connection { get; }

    /// <summary>The transaction reads (and, under the ledger's own daemon, writes) run in.</summary>
    public NpgsqlTransaction Transaction { get; }

    /// <summary>The events, in feed order.</summary>
    public IReadOnlyList<RecordedEvent> Events { get; }

    /// <summary>
    /// The physical, quoted name to use in SQL for one of the projection's <see cref="IProjection.Tables"/> (the live table,
    /// or its shadow during a rebuild). SQL files write <c>{ledger.factory_daily}</c>; see <see cref="Sql"/>.
    /// </summary>
    public string Table(string logicalName) => _table(logicalName);

    /// <summary>Replaces every <c>{schema.table}</c> placeholder in <paramref name="sql"/> by its physical name.</summary>
    public string Sql(string sql)
    {
        ArgumentNullException.ThrowIfNull(sql);
        return System.Text.RegularExpressions.Regex.Replace(sql, @"\{([a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*)\}", m => _table(m.Groups[1].Value));
    }

    /// <summary>A command on the batch's connection and transaction, with table placeholders resolved.</summary>
    public NpgsqlCommand CreateCommand(string sql) => new(Sql(sql), Connection, Transaction);

    /// <summary>
    /// Runs a write of the batch (a command from <see cref="CreateCommand"/>, named parameters): at once on the batch's
    /// transaction under the ledger's own daemon; queued into Marten's batch under Marten's daemon, where it runs after
    /// this method returns, in the transaction that moves the projection's progression.
    /// </summary>
    public async Task ExecuteAsync(NpgsqlCommand command, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(command);
        if (_queue is null) await command.ExecuteNonQueryAsync(cancellationToken);
        else _queue(command);
    }
}
