using System.Data;
using JasperFx.Events;
using Ledger.EventStore.Schema;
using Marten;
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
/// </remarks>
public sealed class MartenSqlProjection(IProjection projection, NpgsqlDataSource dataSource) : global::Marten.Events.Projections.IProjection
{
    /// <summary>The stored type of Marten's placeholder rows for sequence numbers a failed session drew.</summary>
    public const string Tombstone = "tombstone";

    /// <summary>The read model this runs.</summary>
    public IProjection Projection { get; } = projection ?? throw new ArgumentNullException(nameof(projection));

    /// <inheritdoc />
    public async Task ApplyAsync(IDocumentOperations operations, IReadOnlyList<IEvent> events, CancellationToken cancellation)
    {
        ArgumentNullException.ThrowIfNull(operations);
        ArgumentNullException.ThrowIfNull(events);
        var positions = events.Where(e => e.EventTypeName != Tombstone).Select(e => e.Sequence).ToArray();
        if (positions.Length == 0) return;

        await using var connection = await dataSource.OpenConnectionAsync(cancellation);
        await using var transaction = await connection.BeginTransactionAsync(IsolationLevel.ReadCommitted, cancellation);
        await using (var readOnly = new NpgsqlCommand("set transaction read only", connection, transaction))
        {
            await readOnly.ExecuteNonQueryAsync(cancellation);
        }

        var recorded = await ReadAsync(connection, transaction, positions, cancellation);
        var batch = new ProjectionBatch(connection, transaction, recorded, logical => logical, command =>
        {
            var (sql, values) = PositionalSql.From(command);
            operations.QueueSqlCommand(sql, values);
        });
        await Projection.ApplyAsync(batch, cancellation);
        await transaction.CommitAsync(cancellation);
    }

    private async Task<IReadOnlyList<RecordedEvent>> ReadAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, long[] positions, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(Sql.ReadEventsAtPositions, connection, transaction);
        command.Parameters.Add(new NpgsqlParameter<long[]>("positions", NpgsqlDbType.Array | NpgsqlDbType.Bigint) { TypedValue = positions });
        var events = new List<RecordedEvent>(positions.Length);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken)) events.Add(EventStore.ReadRecordedEvent(reader));
        // Marten handed these as committed events at or below its mark: one missing here means the two disagree on what
        // is stored, and projecting the rest would lose it silently.
        if (events.Count != positions.Length)
            throw new InvalidOperationException(
                $"Marten's daemon handed {Projection.Name} {positions.Length} events ({positions[0]}..{positions[^1]}) but the ledger holds {events.Count} of them.");
        return events;
    }
}
