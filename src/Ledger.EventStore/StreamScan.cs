using System.Runtime.CompilerServices;
using Ledger.EventStore.Schema;
using Npgsql;
using NpgsqlTypes;

namespace Ledger.EventStore;

/// <summary>
/// Reads the whole store in one pass, one stream after another: what rebuilds fold. Each stream's events come in version
/// order, which is also their order in the feed.
/// </summary>
public static class StreamScan
{
    private static readonly string ReadAllStreams = SqlResources.Read(typeof(StreamScan).Assembly, "read_all_streams.sql");

    /// <summary>
    /// Every stored event, grouped by stream (one list per stream, each in version order), on the caller's connection and
    /// transaction. Rows are streamed, so memory holds one stream at a time; use a repeatable-read transaction for one
    /// snapshot throughout.
    /// </summary>
    /// <param name="connection">An open connection, not used for anything else while the enumeration runs.</param>
    /// <param name="transaction">The transaction to read in, or null.</param>
    /// <param name="belowTransactionId">Only events of transactions with a lower id (a feed horizon), or null for all.</param>
    /// <param name="types">Only events of these stored types, or null for all.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    public static async IAsyncEnumerable<IReadOnlyList<RecordedEvent>> ReadAllStreamsAsync(
        NpgsqlConnection connection, NpgsqlTransaction? transaction, ulong? belowTransactionId, IReadOnlyCollection<string>? types,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(connection);
        await using var command = new NpgsqlCommand(ReadAllStreams, connection, transaction);
        command.Parameters.Add(new NpgsqlParameter("below_transaction_id", NpgsqlDbType.Xid8)
        {
            Value = belowTransactionId is { } below ? below : DBNull.Value,
        });
        command.Parameters.Add(new NpgsqlParameter("types", NpgsqlDbType.Array | NpgsqlDbType.Text)
        {
            Value = types is null ? DBNull.Value : types.ToArray(),
        });
        await using var rows = await command.ExecuteReaderAsync(cancellationToken);
        var stream = new List<RecordedEvent>();
        while (await rows.ReadAsync(cancellationToken))
        {
            var @event = EventStore.ReadRecordedEvent(rows);
            if (stream.Count > 0 && !string.Equals(stream[0].StreamId, @event.StreamId, StringComparison.Ordinal))
            {
                yield return stream;
                stream = [];
            }

            stream.Add(@event);
        }

        if (stream.Count > 0) yield return stream;
    }
}
