using System.Data;
using JasperFx.Events;
using Ledger.EventStore.Schema;
using Marten;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using NpgsqlTypes;

namespace Ledger.EventStore.Projections;

/// <summary>
/// Runs one of our set-based SQL read models (<see cref="IProjection"/>, written against <see cref="ProjectionBatch"/>) as
/// an asynchronous projection of Marten's daemon (decision 0006, step 4).
/// </summary>
/// <remarks>
/// <para>Marten hands a batch of events at or below its high-water mark, in sequence order, and runs what the projection
/// queued together with the move of its progression row, in one transaction. A projection's batches are strictly serial:
/// the next one starts only after the previous one committed (0006, Q4), so reads of the projection's own tables see every
/// earlier batch.</para>
/// <para>Reads run on a connection of their own from the data source, in a read-only transaction held for the length of
/// <see cref="ApplyAsync"/>: a write on it fails (25006) instead of landing outside Marten's transaction. Writes go
/// through <see cref="ProjectionBatch.ExecuteAsync"/>, which queues them into Marten's batch in positional form.</para>
/// <para>The events themselves are read back from <c>ledger.events</c> by their sequence numbers, so the read model gets
/// exactly what the ledger stored (payload text, metadata, hash), as under the own daemon, and never Marten's
/// re-serialization of a deserialized record. Marten's <c>tombstone</c> rows (sequence numbers of failed sessions) are
/// not events and are left out.</para>
/// <para>Failures (issue 12; docs/projections.md, "Failures: retry and skip"). When the read model throws its own fault
/// (<see cref="ProjectionFaults"/>) the batch is applied again one event at a time on a scratch transaction of a
/// connection of its own, reads in read-only mode and then the queued writes run at once, as Marten would run them, and
/// that transaction is rolled back: the first event that throws is the one the read model fails on. That
/// event and the error are recorded in <c>ledger.projection_checkpoints</c> (status <c>failed</c>) on a connection of
/// their own, and the batch throws <see cref="ProjectionFailedException"/>, so Marten (with <c>SkipApplyErrors = false</c>)
/// pauses the shard with nothing of the batch applied. Marten's coordinator starts a paused shard again after its health
/// check interval, on whichever node then holds the daemon's lock; every batch starts by reading that row, and while it
/// says failed the batch throws <see cref="ProjectionStoppedException"/> instead of applying: the read model stays stopped
/// on every node until an operator retries or skips. Skipped events (<c>ledger.projection_skips</c>) are left out of
/// every batch that holds them. Infrastructure faults are rethrown as they are: Marten pauses and restarts the shard from
/// its progression, and the batch's transaction, which never committed, is simply run again.</para>
/// <para>Marten may also fail a batch after this method returned, when it runs the queued writes (a constraint the read
/// model's SQL violates). Such a batch comes back with the same first event; a batch that does is first tried on the
/// scratch transaction, where the writes run at once, so the fault is found and recorded like any other.</para>
/// <para>Event types (issue 15, P4). A read model that declares its <see cref="IProjection.EventTypes"/> has them set as
/// the shard's <see cref="JasperFx.Events.Projections.EventFilterable.IncludedEventTypes"/> (their CLR types from the
/// store's type map): Marten's loader then selects only those rows (<c>d.type = ANY(...)</c>), so the shard no longer
/// loads, deserializes and reads back every other event. Positions stay Marten's: a page that is not full ends at the
/// high-water mark it was read up to (<c>EventPage.CalculateCeiling</c>, read in 9.62.0), also when it holds no event
/// at all, and Marten then moves the progression there with nothing applied, so a shard whose types are rare does not
/// lag (<c>DeclaredEventTypesDaemonTests</c>).</para>
/// </remarks>
public sealed partial class MartenSqlProjection : JasperFx.Events.Projections.ProjectionBase, global::Marten.Events.Projections.IProjection
{
    /// <summary>The stored type of Marten's placeholder rows for sequence numbers a failed session drew.</summary>
    public const string Tombstone = "tombstone";

    private readonly NpgsqlDataSource _dataSource;
    private readonly string _nodeId;
    private readonly ILogger _logger;

    // The read model's declared types (null: every type). Marten's filter also lets its own `archived` marker through;
    // the read model is handed exactly these.
    private readonly HashSet<string>? _types;

    // The first position of the last batch handed to Marten. Marten runs a shard's batches one after the other, so a
    // batch starting there again means Marten did not commit the last one.
    private long _lastFloor = -1;

    private static readonly (string Sql, string[] Names) OwnerClaim = PositionalSql.From(ProjectionSql.OwnerClaim);

    /// <summary>Runs <paramref name="projection"/> on Marten's daemon.</summary>
    /// <param name="projection">The read model.</param>
    /// <param name="dataSource">The process's data source (reads, the failure record, the scratch transaction).</param>
    /// <param name="nodeId">This node, recorded as the read model's owner with each batch it applies.</param>
    /// <param name="logger">Where failures are logged.</param>
    /// <param name="eventTypes">The store's type map (<see cref="EventStoreOptions.EventTypes"/>): Marten filters a shard
    /// by CLR type, so every type the read model declares must be in it.</param>
    /// <exception cref="InvalidOperationException">The read model declares a stored type the map does not name: Marten
    /// would filter on a name of its own making and the read model would silently see nothing of that type.</exception>
    public MartenSqlProjection(
        IProjection projection, NpgsqlDataSource dataSource, string nodeId, ILogger? logger = null, IReadOnlyDictionary<Type, string>? eventTypes = null)
    {
        ArgumentNullException.ThrowIfNull(projection);
        // Always fenced: a batch computed from tables a rebuild has since swapped out must not commit (RebuildFence).
        Projection = projection as RebuildFence ?? new RebuildFence(projection);
        _dataSource = dataSource ?? throw new ArgumentNullException(nameof(dataSource));
        ArgumentException.ThrowIfNullOrWhiteSpace(nodeId);
        _nodeId = nodeId;
        _logger = logger ?? NullLogger.Instance;
        Name = Projection.Name;
        if (Projection.EventTypes is not { } declared) return;

        _types = new HashSet<string>(declared, StringComparer.Ordinal);
        var byName = (eventTypes ?? new Dictionary<Type, string>()).ToDictionary(p => p.Value, p => p.Key, StringComparer.Ordinal);
        var unmapped = _types.Where(t => !byName.ContainsKey(t)).Order(StringComparer.Ordinal).ToArray();
        if (unmapped.Length > 0)
            throw new InvalidOperationException(
                $"Projection '{Projection.Name}' declares event types the store does not map to a CLR type ({string.Join(", ", unmapped)}); " +
                "Marten's daemon can only be told types it knows. Add them to EventStoreOptions.EventTypes.");
        foreach (var type in _types.Order(StringComparer.Ordinal)) IncludeType(byName[type]);
    }

    /// <summary>The read model this runs, behind its <see cref="RebuildFence"/>.</summary>
    public IProjection Projection { get; }

    /// <inheritdoc />
    public async Task ApplyAsync(IDocumentOperations operations, IReadOnlyList<IEvent> events, CancellationToken cancellation)
    {
        ArgumentNullException.ThrowIfNull(operations);
        ArgumentNullException.ThrowIfNull(events);
        var positions = events.Where(e => _types is null ? e.EventTypeName != Tombstone : _types.Contains(e.EventTypeName)).Select(e => e.Sequence).ToArray();
        if (positions.Length == 0) return;

        await using var connection = await _dataSource.OpenConnectionAsync(cancellation);
        var (transaction, stopped, skipped, recorded) = await BeginAndReadAsync(connection, positions, cancellation);
        try
        {
            if (stopped) throw new ProjectionStoppedException(Projection.Name);
            if (skipped.Count > 0) recorded = [.. recorded.Where(e => !skipped.Contains(e.Position))];

            var repeated = Interlocked.Exchange(ref _lastFloor, positions[0]) == positions[0];
            if (repeated && recorded.Count > 0)
            {
                // Not held open (idle in its transaction) while the scratch runs; the apply gets a fresh one.
                await transaction.RollbackAsync(cancellation);
                await transaction.DisposeAsync();
                if (await FindFailureAsync(recorded, cancellation) is { } found) throw await RecordFailureAsync(found.Event, found.Fault, cancellation);
                transaction = await BeginReadOnlyAsync(connection, cancellation);
            }

            operations.QueueSqlCommand(OwnerClaim.Sql, [.. OwnerClaim.Names.Select(n => (object)(n == "name" ? Projection.Name : _nodeId))]);
            if (recorded.Count > 0) await ApplyRecordedAsync(operations, connection, transaction, recorded, cancellation);
            // After Marten's progression update and our writes, just before Marten commits: the batch commits only if that
            // update matched, i.e. no other node applied these events meanwhile (migration 0011).
            FenceBeforeCommit(operations);
            await transaction.CommitAsync(cancellation);
        }
        finally
        {
            await transaction.DisposeAsync();
        }
    }

    /// <summary>
    /// Runs the progress fence as a statement of its own on Marten's transaction after Marten's batch and before its
    /// commit (a Marten transaction participant), not as the batch's last statement.
    /// </summary>
    /// <remarks>
    /// Queued into the batch, an error raised after the batch's first statement that returns rows never reached Marten's
    /// daemon in 9.62.0: <c>OperationPage.ApplyCallbacksAsync</c> reads the remaining results in a loop that returns on
    /// any exception (<c>assertRecordsAffectedAsync</c>), PostgreSQL turns the commit of the failed transaction into a
    /// rollback without an error, and the daemon logged the batch as executed and went on from its ceiling
    /// (<c>MovedProgressionTests</c>). So a refused batch was rolled back silently, its shard's in-memory floor no longer
    /// matched the moved progression row, and every later batch was refused the same way until the agent was restarted:
    /// the shard stood still on a node that kept its lock. Run here, the fence throws: Marten pauses the shard, and its
    /// coordinator starts it again from the stored progression. A batch whose transaction an earlier statement already
    /// failed, with an error Marten lost the same way, fails here too (25P02) instead of passing for committed.
    /// </remarks>
    private void FenceBeforeCommit(IDocumentOperations operations)
    {
        if (operations is not ITransactionParticipantRegistrar registrar)
            throw new InvalidOperationException($"Marten handed {Projection.Name} operations that take no transaction participant ({operations.GetType().Name}): its batches could not be fenced.");
        registrar.AddTransactionParticipant(new ProgressFenceParticipant(MartenSetup.ShardName(Projection.Name)));
    }

    private sealed class ProgressFenceParticipant(string shard) : ITransactionParticipant
    {
        // Marten may call it again on a fresh transaction when it retries the commit: the check is as valid there.
        public async Task BeforeCommitAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, CancellationToken token)
        {
            await using var command = new NpgsqlCommand(ProjectionSql.ProgressFence, connection, transaction);
            command.Parameters.Add(new NpgsqlParameter<string>("shard", NpgsqlDbType.Text) { TypedValue = shard });
            await command.ExecuteScalarAsync(token);
        }
    }

    private async Task ApplyRecordedAsync(
        IDocumentOperations operations, NpgsqlConnection connection, NpgsqlTransaction transaction, IReadOnlyList<RecordedEvent> recorded,
        CancellationToken cancellation)
    {
        var batch = new ProjectionBatch(connection, transaction, recorded, logical => logical, command =>
        {
            var (sql, values) = PositionalSql.From(command);
            operations.QueueSqlCommand(sql, values);
        });
        try
        {
            await Projection.ApplyAsync(batch, cancellation);
        }
        catch (Exception e) when (ProjectionFaults.IsProjectionFault(e, connection, cancellation))
        {
            await transaction.RollbackAsync(CancellationToken.None);
            // Whatever it queued dies with this batch: Marten discards the operations of a batch that throws.
            var (failedEvent, fault) = await FindFailureAsync(recorded, cancellation) ?? (recorded[0], e);
            throw await RecordFailureAsync(failedEvent, fault, cancellation);
        }
    }

    private static async Task<NpgsqlTransaction> BeginReadOnlyAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        var transaction = await connection.BeginTransactionAsync(IsolationLevel.ReadCommitted, cancellationToken);
        await using var readOnly = new NpgsqlCommand("set transaction read only", connection, transaction);
        await readOnly.ExecuteNonQueryAsync(cancellationToken);
        return transaction;
    }

    /// <summary>
    /// Begins the batch's read-only transaction and reads, in one round trip (issue 15, P4: a batch of one event cost three
    /// here), whether the read model is stopped at a failure, which of the positions an operator skipped for it, and the
    /// events themselves as the ledger stores them.
    /// </summary>
    private async Task<(NpgsqlTransaction Transaction, bool Stopped, HashSet<long> Skipped, IReadOnlyList<RecordedEvent> Recorded)> BeginAndReadAsync(
        NpgsqlConnection connection, long[] positions, CancellationToken cancellationToken)
    {
        var transaction = await connection.BeginTransactionAsync(IsolationLevel.ReadCommitted, cancellationToken);
        try
        {
            await using var batch = new NpgsqlBatch(connection, transaction)
            {
                BatchCommands =
                {
                    new NpgsqlBatchCommand("set transaction read only"),
                    new NpgsqlBatchCommand(ProjectionSql.ApplyState)
                    {
                        Parameters =
                        {
                            new NpgsqlParameter<string>("name", NpgsqlDbType.Text) { TypedValue = Projection.Name },
                            new NpgsqlParameter<long[]>("positions", NpgsqlDbType.Array | NpgsqlDbType.Bigint) { TypedValue = positions },
                        },
                    },
                    new NpgsqlBatchCommand(Sql.ReadEventsAtPositions)
                    {
                        Parameters = { new NpgsqlParameter<long[]>("positions", NpgsqlDbType.Array | NpgsqlDbType.Bigint) { TypedValue = positions } },
                    },
                },
            };
            await using var reader = await batch.ExecuteReaderAsync(cancellationToken);
            // The reader starts at the first statement that returns rows: the state.
            await reader.ReadAsync(cancellationToken);
            var stopped = !reader.IsDBNull(0) && reader.GetBoolean(0);
            HashSet<long> skipped = [.. reader.GetFieldValue<long[]>(1)];
            await reader.NextResultAsync(cancellationToken);
            var events = new List<RecordedEvent>(positions.Length);
            while (await reader.ReadAsync(cancellationToken)) events.Add(EventStore.ReadRecordedEvent(reader));
            // Marten handed these as committed events at or below its mark: one missing here means the two disagree on what
            // is stored, and projecting the rest would lose it silently.
            if (events.Count != positions.Length)
                throw new InvalidOperationException(
                    $"Marten's daemon handed {Projection.Name} {positions.Length} events ({positions[0]}..{positions[^1]}) but the ledger holds {events.Count} of them.");
            return (transaction, stopped, skipped, events);
        }
        catch
        {
            await transaction.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// Applies the events one at a time, in order, on a scratch transaction that is always rolled back, the way Marten runs
    /// a batch: the read model reads in read-only mode (a savepoint with <c>transaction_read_only</c> on, rolled back
    /// afterwards, so a write on the batch's connection fails as it does under Marten), then the writes it queued run.
    /// Later events see the earlier ones' writes. Returns the first event that throws the read model's own fault, with
    /// that fault, or null when none does. Infrastructure faults propagate.
    /// </summary>
    private async Task<(RecordedEvent Event, Exception Fault)?> FindFailureAsync(IReadOnlyList<RecordedEvent> events, CancellationToken cancellationToken)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(IsolationLevel.ReadCommitted, cancellationToken);
        try
        {
            foreach (var @event in events)
            {
                var queued = new List<(string Sql, NpgsqlParameter[] Parameters)>();
                try
                {
                    await ExecuteAsync(connection, transaction, "savepoint apply_reads", cancellationToken);
                    await ExecuteAsync(connection, transaction, "set local transaction_read_only = on", cancellationToken);
                    var batch = new ProjectionBatch(connection, transaction, [@event], logical => logical, command =>
                    {
                        // What Marten's queue would refuse, this refuses too.
                        _ = PositionalSql.From(command);
                        queued.Add((command.CommandText, [.. command.Parameters.Select(p => p.Clone())]));
                    });
                    await Projection.ApplyAsync(batch, cancellationToken);
                    // Ends the read-only mode with the savepoint (reads leave nothing to keep).
                    await ExecuteAsync(connection, transaction, "rollback to savepoint apply_reads", cancellationToken);
                    foreach (var (sql, parameters) in queued)
                    {
                        await using var write = new NpgsqlCommand(sql, connection, transaction);
                        write.Parameters.AddRange(parameters);
                        await write.ExecuteNonQueryAsync(cancellationToken);
                    }
                }
                catch (Exception e) when (ProjectionFaults.IsProjectionFault(e, connection, cancellationToken))
                {
                    return (@event, e);
                }
            }

            return null;
        }
        finally
        {
            if (connection.State == ConnectionState.Open) await transaction.RollbackAsync(CancellationToken.None);
        }
    }

    private static async Task ExecuteAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string sql, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(sql, connection, transaction);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private async Task<ProjectionFailedException> RecordFailureAsync(RecordedEvent @event, Exception fault, CancellationToken cancellationToken)
    {
        await using (var command = _dataSource.CreateCommand(ProjectionSql.RecordFailure))
        {
            command.Parameters.Add(new NpgsqlParameter<string>("name", NpgsqlDbType.Text) { TypedValue = Projection.Name });
            command.Parameters.Add(new NpgsqlParameter<string>("error", NpgsqlDbType.Text) { TypedValue = $"{fault.GetType().FullName}: {fault.Message}" });
            command.Parameters.Add(new NpgsqlParameter<Guid>("event_id", @event.EventId));
            command.Parameters.Add(new NpgsqlParameter<long>("failed_position", NpgsqlDbType.Bigint) { TypedValue = @event.Position });
            await command.ExecuteNonQueryAsync(cancellationToken);
        }

        LogFailed(_logger, fault, Projection.Name, @event.EventId, @event.Position);
        return new ProjectionFailedException(Projection.Name, @event.EventId, @event.Position, fault);
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Projection {Projection} failed on event {EventId} at position {Position}; it stops on every node until retried or skipped.")]
    private static partial void LogFailed(ILogger logger, Exception exception, string projection, Guid eventId, long position);
}
