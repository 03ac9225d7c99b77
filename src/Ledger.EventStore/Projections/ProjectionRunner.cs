using Microsoft.Extensions.Logging;
using Npgsql;
using NpgsqlTypes;

namespace Ledger.EventStore.Projections;

/// <summary>
/// Runs one projection's batches on behalf of the node that owns it: live batches, and while a rebuild runs, replay batches
/// into the shadow tables and finally the swap. Every batch is one transaction that reads the feed first (up to the
/// high-water mark, so no position it passes can still be filled by a live transaction), locks and checks the checkpoint,
/// applies, and moves the checkpoint only from where it started.
/// </summary>
internal sealed partial class ProjectionRunner
{
    private readonly NpgsqlDataSource _dataSource;
    private readonly IProjection _projection;
    private readonly ProjectionDaemonOptions _options;
    private readonly ILogger _logger;
    private readonly Dictionary<string, ProjectionTable> _tables;

    // Set while a rebuild is less than one replay batch behind the live cursor: live batches pause (for about one replay
    // batch) so that the replay reaches the live cursor and swaps even when events arrive faster than it replays them.
    private bool _holdLive;

    public ProjectionRunner(NpgsqlDataSource dataSource, IProjection projection, ProjectionDaemonOptions options, ILogger logger)
    {
        _dataSource = dataSource;
        _projection = projection;
        _options = options;
        _logger = logger;
        _tables = projection.Tables.Select(t => ProjectionTable.Parse(projection.Name, t)).ToDictionary(t => t.Logical, StringComparer.Ordinal);
    }

    public string Name => _projection.Name;

    /// <summary>Does one round of work. Returns true when there may be more to do at once, false when the loop may idle.</summary>
    public async Task<bool> RunOnceAsync(CancellationToken cancellationToken)
    {
        // A bulk replay that ended since the last round: its infrastructure errors surface here, as a batch's would.
        if (_bulk is { IsCompleted: true }) await TakeBulkReplayAsync();
        var more = await RunLiveBatchAsync(cancellationToken);
        more |= await RunRebuildBatchAsync(cancellationToken);
        return more;
    }

    private async Task<bool> RunLiveBatchAsync(CancellationToken cancellationToken)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var state = await ReadCheckpointAsync(connection, transaction, ProjectionSql.CheckpointRead, cancellationToken);
        if (state is null)
        {
            await ExecuteAsync(connection, transaction, ProjectionSql.CheckpointEnsure, cancellationToken, Text("name", Name));
            await transaction.CommitAsync(cancellationToken);
            return true;
        }

        if (state.Failed) return false;
        if (_holdLive && state.RebuildRequested) return false;
        _holdLive = false;

        var page = await EventStore.ReadFeedAsync(connection, transaction, state.Live, _options.BatchSize, cancellationToken);
        if (page.Events.Count == 0) return false;

        var locked = await ReadCheckpointAsync(connection, transaction, ProjectionSql.CheckpointLock, cancellationToken);
        if (locked is null || locked.Failed || locked.Live != state.Live) return true;

        if (!await TryApplyAsync(connection, transaction, page.Events, shadow: false, cancellationToken))
        {
            await RollbackQuietlyAsync(transaction);
            await IsolateFailureAsync(state.Live, page.Events, shadow: false, cancellationToken);
            return true;
        }

        if (!await AdvanceAsync(connection, transaction, ProjectionSql.CheckpointAdvance, state.Live, page.Next, page.Events.Count, cancellationToken))
        {
            // Someone else moved the checkpoint (a stale owner finishing, or an operator): this batch must not land.
            LogCheckpointMoved(_logger, Name);
            return true;
        }

        await transaction.CommitAsync(cancellationToken);
        return page.Events.Count == _options.BatchSize;
    }

    private async Task<bool> RunRebuildBatchAsync(CancellationToken cancellationToken)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var state = await ReadCheckpointAsync(connection, transaction, ProjectionSql.CheckpointRead, cancellationToken);
        if (state is null || state.Failed || !state.RebuildRequested)
        {
            _holdLive = false;
            return false;
        }

        if (state.Shadow is not { } shadow)
        {
            if (UseBulkReplay)
            {
                await transaction.RollbackAsync(cancellationToken);
                StartBulkReplay(cancellationToken);
                return false;
            }

            foreach (var table in _tables.Values)
            {
                await ExecuteAsync(connection, transaction, Placeholders(ProjectionSql.RebuildCreateTable, table), cancellationToken);
            }

            await ExecuteAsync(connection, transaction, ProjectionSql.RebuildStart, cancellationToken, Text("name", Name));
            await transaction.CommitAsync(cancellationToken);
            LogRebuildStarted(_logger, Name);
            return true;
        }

        var page = await EventStore.ReadFeedAsync(connection, transaction, shadow, _options.RebuildBatchSize, cancellationToken);
        if (page.Events.Count == 0 && shadow < state.Live) return false;

        var locked = await ReadCheckpointAsync(connection, transaction, ProjectionSql.CheckpointLock, cancellationToken);
        if (locked is null || locked.Failed || locked.Live != state.Live || locked.Shadow != shadow) return true;

        if (page.Events.Count > 0)
        {
            if (!await TryApplyAsync(connection, transaction, page.Events, shadow: true, cancellationToken))
            {
                await RollbackQuietlyAsync(transaction);
                await IsolateFailureAsync(shadow, page.Events, shadow: true, cancellationToken);
                return true;
            }

            if (!await AdvanceAsync(connection, transaction, ProjectionSql.ShadowAdvance, shadow, page.Next, page.Events.Count, cancellationToken))
            {
                LogCheckpointMoved(_logger, Name);
                return true;
            }
        }

        if (page.Next >= state.Live)
        {
            // The shadow tables have caught up with the live ones: swap them in, in this same transaction, and let the live
            // cursor continue from the shadow cursor. Readers of the live names wait for the renames only for this commit.
            foreach (var table in _tables.Values)
            {
                await ExecuteAsync(connection, transaction, Placeholders(ProjectionSql.RebuildSwapTable, table), cancellationToken);
            }

            var finished = await ExecuteAsync(connection, transaction, ProjectionSql.RebuildFinish, cancellationToken,
                Text("name", Name), Bigint("shadow_position", page.Next.Position), Bigint("live_position", state.Live.Position));
            if (finished != 1) return true;
            await transaction.CommitAsync(cancellationToken);
            _holdLive = false;
            _bulkFailed = false;
            LogRebuildFinished(_logger, Name, page.Next);
            return true;
        }

        await using (var gap = new NpgsqlCommand(ProjectionSql.RebuildGap, connection, transaction))
        {
            gap.Parameters.Add(Bigint("shadow_position", page.Next.Position));
            gap.Parameters.Add(Bigint("live_position", state.Live.Position));
            gap.Parameters.Add(Bigint("limit", _options.RebuildBatchSize));
            var remaining = (long)(await gap.ExecuteScalarAsync(cancellationToken))!;
            await transaction.CommitAsync(cancellationToken);
            _holdLive = remaining < _options.RebuildBatchSize;
        }

        return true;
    }

    /// <summary>
    /// A batch threw: runs its events again one per transaction, so every event before the bad one lands and the projection
    /// stops exactly at the event that throws. An event that no longer throws alone just lands (the fault was not its own).
    /// </summary>
    private async Task IsolateFailureAsync(FeedCursor from, IReadOnlyList<RecordedEvent> events, bool shadow, CancellationToken cancellationToken)
    {
        var cursor = from;
        foreach (var @event in events)
        {
            await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
            Exception? fault;
            await using (var transaction = await connection.BeginTransactionAsync(cancellationToken))
            {
                var locked = await ReadCheckpointAsync(connection, transaction, ProjectionSql.CheckpointLock, cancellationToken);
                if (locked is null || locked.Failed || (shadow ? locked.Shadow : locked.Live) != cursor) return;

                fault = await ApplyCatchingAsync(connection, transaction, [@event], shadow, cancellationToken);
                if (fault is null)
                {
                    var sql = shadow ? ProjectionSql.ShadowAdvance : ProjectionSql.CheckpointAdvance;
                    if (!await AdvanceAsync(connection, transaction, sql, cursor, @event.Cursor, 1, cancellationToken)) return;
                    await transaction.CommitAsync(cancellationToken);
                    cursor = @event.Cursor;
                    continue;
                }

                await RollbackQuietlyAsync(transaction);
            }

            await ExecuteAsync(connection, null, ProjectionSql.Fail, cancellationToken,
                Text("name", Name), Text("error", Describe(fault)), new NpgsqlParameter<Guid>("event_id", @event.EventId),
                Bigint("failed_position", @event.Position), new NpgsqlParameter<bool>("in_rebuild", shadow),
                Bigint("cursor_position", cursor.Position));
            LogProjectionFailed(_logger, fault, Name, @event.EventId, @event.Position, shadow);
            return;
        }
    }

    private async Task<bool> TryApplyAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, IReadOnlyList<RecordedEvent> events, bool shadow, CancellationToken cancellationToken) =>
        await ApplyCatchingAsync(connection, transaction, events, shadow, cancellationToken) is null;

    /// <summary>Applies the events; returns the projection's own fault, and lets infrastructure failures propagate.</summary>
    private async Task<Exception?> ApplyCatchingAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, IReadOnlyList<RecordedEvent> events, bool shadow, CancellationToken cancellationToken)
    {
        var batch = new ProjectionBatch(connection, transaction, events, logical => Resolve(logical, shadow));
        try
        {
            await _projection.ApplyAsync(batch, cancellationToken);
            return null;
        }
        catch (Exception e) when (IsProjectionFault(e, connection, cancellationToken))
        {
            return e;
        }
    }

    /// <summary>
    /// Whether an exception is the projection's own fault (stop it, visibly) rather than the infrastructure's (retry later):
    /// decided by the connection's state, cancellation and SqlState, never by message text.
    /// </summary>
    internal static bool IsProjectionFault(Exception e, NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        if (cancellationToken.IsCancellationRequested) return false;
        if (connection.FullState.HasFlag(System.Data.ConnectionState.Broken) || connection.State != System.Data.ConnectionState.Open) return false;
        return e switch
        {
            // Serialization failures and deadlocks (class 40), resources (53), operator intervention (57P), connection (08).
            PostgresException pg => !(pg.SqlState.StartsWith("40", StringComparison.Ordinal) || pg.SqlState.StartsWith("53", StringComparison.Ordinal)
                || pg.SqlState.StartsWith("57P", StringComparison.Ordinal) || pg.SqlState.StartsWith("08", StringComparison.Ordinal)),
            NpgsqlException npgsql => !npgsql.IsTransient,
            _ => true,
        };
    }

    private string Resolve(string logical, bool shadow)
    {
        if (!_tables.TryGetValue(logical, out var table))
        {
            throw new InvalidOperationException($"Projection '{Name}' wrote to '{logical}', which is not one of its Tables.");
        }

        return shadow ? table.Shadow : table.Live;
    }

    private static string Placeholders(string sql, ProjectionTable table) => sql
        .Replace("{live}", table.Live, StringComparison.Ordinal)
        .Replace("{shadow}", table.Shadow, StringComparison.Ordinal)
        .Replace("{old}", table.Old, StringComparison.Ordinal)
        .Replace("{old_name}", ProjectionTable.Quote(table.OldName), StringComparison.Ordinal)
        .Replace("{live_name}", ProjectionTable.Quote(table.Name), StringComparison.Ordinal);

    private async Task<bool> AdvanceAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, string sql, FeedCursor from, FeedCursor to, int events, CancellationToken cancellationToken) =>
        await ExecuteAsync(connection, transaction, sql, cancellationToken,
            Text("name", Name), Bigint("old_position", from.Position), Bigint("new_position", to.Position), Bigint("events", events)) == 1;

    private async Task<Checkpoint?> ReadCheckpointAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string sql, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(sql, connection, transaction);
        command.Parameters.Add(Text("name", Name));
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken)) return null;
        var live = new FeedCursor(reader.GetInt64(reader.GetOrdinal("position")));
        var failed = reader.GetString(reader.GetOrdinal("status")) == "failed";
        var shadowPosition = reader.GetOrdinal("shadow_position");
        FeedCursor? shadow = reader.IsDBNull(shadowPosition) ? null : new FeedCursor(reader.GetInt64(shadowPosition));
        return new Checkpoint(live, failed, !reader.IsDBNull(reader.GetOrdinal("rebuild_requested_at")), shadow);
    }

    internal static async Task<int> ExecuteAsync(
        NpgsqlConnection connection, NpgsqlTransaction? transaction, string sql, CancellationToken cancellationToken, params NpgsqlParameter[] parameters)
    {
        await using var command = new NpgsqlCommand(sql, connection, transaction);
        command.Parameters.AddRange(parameters);
        return await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private static async Task RollbackQuietlyAsync(NpgsqlTransaction transaction)
    {
        try
        {
            await transaction.RollbackAsync(CancellationToken.None);
        }
        catch (NpgsqlException)
        {
            // The connection is gone, and the transaction with it.
        }
    }

    private static string Describe(Exception e) => $"{e.GetType().FullName}: {e.Message}";

    internal static NpgsqlParameter Text(string name, string value) => new NpgsqlParameter<string>(name, NpgsqlDbType.Text) { TypedValue = value };
    internal static NpgsqlParameter Bigint(string name, long value) => new NpgsqlParameter<long>(name, NpgsqlDbType.Bigint) { TypedValue = value };

    private sealed record Checkpoint(FeedCursor Live, bool Failed, bool RebuildRequested, FeedCursor? Shadow);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Projection {Projection}: the checkpoint moved under this batch; it was rolled back.")]
    private static partial void LogCheckpointMoved(ILogger logger, string projection);

    [LoggerMessage(Level = LogLevel.Error, Message = "Projection {Projection} failed on event {EventId} at position {Position} (rebuild: {InRebuild}); it stops until retried or skipped.")]
    private static partial void LogProjectionFailed(ILogger logger, Exception exception, string projection, Guid eventId, long position, bool inRebuild);

    [LoggerMessage(Level = LogLevel.Information, Message = "Projection {Projection}: rebuild started into shadow tables.")]
    private static partial void LogRebuildStarted(ILogger logger, string projection);

    [LoggerMessage(Level = LogLevel.Information, Message = "Projection {Projection}: rebuild swapped in at {Cursor}.")]
    private static partial void LogRebuildFinished(ILogger logger, string projection, FeedCursor cursor);
}
