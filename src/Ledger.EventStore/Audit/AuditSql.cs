using System.Globalization;
using Ledger.EventStore.Schema;
using Npgsql;

namespace Ledger.EventStore.Audit;

/// <summary>The audit's queries, one embedded file each (Sql/Queries/audit_*.sql).</summary>
internal static class AuditSql
{
    public static readonly string SealerLock = Read("audit_sealer_lock.sql");
    public static readonly string SealerState = Read("audit_sealer_state.sql");
    public static readonly string Pending = Read("audit_pending.sql");
    public static readonly IReadOnlyList<string> SealBlock = SqlStatements.Split(Read("audit_seal_block.sql"));
    public static readonly string ReadBlocks = Read("audit_read_blocks.sql");
    public static readonly string LatestBlock = Read("audit_latest_block.sql");
    public static readonly string BlockOfPosition = Read("audit_block_of_position.sql");
    public static readonly string ReadEvents = Read("audit_read_events.sql");
    public static readonly string VerifyEvents = Read("audit_verify_events.sql");
    public static readonly string ReadStreams = Read("audit_read_streams.sql");
    public static readonly string ReadEventById = Read("read_event_by_id.sql");
    public static readonly string PreviousHash = Read("audit_previous_hash.sql");

    private static string Read(string fileName) => SqlResources.Read(typeof(AuditSql).Assembly, fileName);

    /// <summary>Reads a block row in the column order of the block queries.</summary>
    public static SealedBlock ReadBlock(NpgsqlDataReader reader)
    {
        var positions = reader.GetFieldValue<long[]>(1);
        var packed = reader.GetFieldValue<byte[]>(2);
        var hashes = new byte[positions.Length][];
        for (var i = 0; i < hashes.Length; i++) hashes[i] = packed.AsSpan(i * MerkleTree.HashLength, MerkleTree.HashLength).ToArray();
        return new SealedBlock(
            reader.GetInt64(0), positions, hashes, reader.GetFieldValue<byte[]>(3),
            reader.IsDBNull(4) ? null : reader.GetFieldValue<byte[]>(4), reader.GetFieldValue<byte[]>(5),
            reader.GetFieldValue<DateTimeOffset>(6));
    }

    /// <summary>Reads an event row in the column order of the event queries (those of the view <c>ledger.events</c>).</summary>
    public static RecordedEvent ReadEvent(NpgsqlDataReader reader) => EventStore.ReadRecordedEvent(reader);

    /// <summary>
    /// Reads a row of <c>audit_verify_events.sql</c>: the event, or why its stored values cannot be what was hashed
    /// (headers that lost the metadata, an occurred-at or hash not in the stored form).
    /// </summary>
    public static StoredEvent ReadStoredEvent(NpgsqlDataReader reader)
    {
        var position = reader.GetInt64(0);
        var eventId = reader.GetGuid(1);
        var streamId = reader.IsDBNull(2) ? "" : reader.GetString(2);
        var version = reader.GetInt64(3);
        var occurredAt = default(DateTimeOffset);
        var problem =
            reader.IsDBNull(6) ? "its headers hold no metadata object"
            : reader.IsDBNull(7) || !DateTimeOffset.TryParseExact(reader.GetString(7), Hashing.EventHasher.TimestampFormat, CultureInfo.InvariantCulture,
                DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out occurredAt)
                ? "its headers hold no occurredAt in the stored form (yyyy-MM-ddTHH:mm:ss.ffffffZ)"
            : reader.IsDBNull(9) || reader.GetString(9) is not { Length: MerkleTree.HashLength * 2 } hex || !IsLowerHex(hex)
                ? "its headers hold no hash of 64 lowercase hex digits"
            : null;
        if (problem is not null) return new StoredEvent(null, position, eventId, streamId, version, problem);

        var recorded = new RecordedEvent(position, eventId, streamId, version, reader.GetString(4), reader.GetString(5), reader.GetString(6),
            occurredAt, reader.GetFieldValue<DateTimeOffset>(8), Convert.FromHexString(reader.GetString(9)));
        var columns = new MartenColumns(
            reader.IsDBNull(10) ? null : reader.GetString(10), reader.IsDBNull(11) ? null : reader.GetString(11),
            reader.IsDBNull(12) ? null : reader.GetString(12), reader.IsDBNull(13) ? null : reader.GetString(13), !reader.IsDBNull(14) && reader.GetBoolean(14));
        return new StoredEvent(recorded, position, eventId, streamId, version, null, columns);
    }

    private static bool IsLowerHex(string text)
    {
        foreach (var c in text)
        {
            if (c is not (>= '0' and <= '9' or >= 'a' and <= 'f')) return false;
        }

        return true;
    }

    /// <summary>
    /// Opens a read-only REPEATABLE READ transaction: events and blocks from one snapshot, so a block sealed meanwhile
    /// never names events the reader did not see. Taking no transaction id, it does not hold back the feed's horizon.
    /// </summary>
    public static async Task<NpgsqlTransaction> BeginSnapshotAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        var transaction = await connection.BeginTransactionAsync(System.Data.IsolationLevel.RepeatableRead, cancellationToken);
        await using var readOnly = new NpgsqlCommand("set transaction read only", connection, transaction);
        await readOnly.ExecuteNonQueryAsync(cancellationToken);
        return transaction;
    }

    /// <summary>Events in position order in (after, to], a page at a time, on the caller's connection.</summary>
    public static async IAsyncEnumerable<IReadOnlyList<RecordedEvent>> ReadEventPagesAsync(
        NpgsqlConnection connection, NpgsqlTransaction? transaction, long after, long to,
        [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        const int pageSize = 5000;
        while (true)
        {
            var page = new List<RecordedEvent>(pageSize);
            await using (var command = new NpgsqlCommand(ReadEvents, connection, transaction))
            {
                command.Parameters.AddWithValue("after_position", after);
                command.Parameters.AddWithValue("to_position", to);
                command.Parameters.AddWithValue("max_count", (long)pageSize);
                await using var reader = await command.ExecuteReaderAsync(cancellationToken);
                while (await reader.ReadAsync(cancellationToken)) page.Add(ReadEvent(reader));
            }

            if (page.Count > 0) yield return page;
            if (page.Count < pageSize) yield break;
            after = page[^1].Position;
        }
    }

    /// <summary>Every stored event in position order, a page at a time (<see cref="ReadStoredEvent"/>).</summary>
    public static async IAsyncEnumerable<IReadOnlyList<StoredEvent>> ReadStoredEventPagesAsync(
        NpgsqlConnection connection, NpgsqlTransaction? transaction,
        [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        const int pageSize = 5000;
        var after = 0L;
        while (true)
        {
            var page = new List<StoredEvent>(pageSize);
            await using (var command = new NpgsqlCommand(VerifyEvents, connection, transaction))
            {
                command.Parameters.AddWithValue("after_position", after);
                command.Parameters.AddWithValue("max_count", (long)pageSize);
                await using var reader = await command.ExecuteReaderAsync(cancellationToken);
                while (await reader.ReadAsync(cancellationToken)) page.Add(ReadStoredEvent(reader));
            }

            if (page.Count > 0) yield return page;
            if (page.Count < pageSize) yield break;
            after = page[^1].Position;
        }
    }

    /// <summary>All blocks in chain order, on the caller's connection.</summary>
    public static async IAsyncEnumerable<SealedBlock> ReadAllBlocksAsync(
        NpgsqlConnection connection, NpgsqlTransaction? transaction, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(ReadBlocks, connection, transaction);
        command.Parameters.AddWithValue("after_block_number", 0L);
        command.Parameters.AddWithValue("max_count", long.MaxValue);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken)) yield return ReadBlock(reader);
    }

    public static byte[] Pack(IReadOnlyList<byte[]> hashes)
    {
        var packed = new byte[hashes.Count * MerkleTree.HashLength];
        for (var i = 0; i < hashes.Count; i++) hashes[i].CopyTo(packed, i * MerkleTree.HashLength);
        return packed;
    }
}

/// <summary>
/// A row of <c>mt_events</c> as the verifier reads it: the event, or (when its stored values cannot have been hashed)
/// what identifies it and what is wrong with it.
/// </summary>
internal sealed record StoredEvent(
    RecordedEvent? Event, long Position, Guid EventId, string StreamId, long StreamVersion, string? Problem, MartenColumns? Columns = null);

/// <summary>Marten's columns of an event that are not hashed but that Marten's own readers use.</summary>
internal sealed record MartenColumns(string? UserName, string? CorrelationId, string? CausationId, string? TenantId, bool IsArchived);
