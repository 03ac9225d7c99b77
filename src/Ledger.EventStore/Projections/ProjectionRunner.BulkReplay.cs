using System.Data;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Ledger.EventStore.Projections;

/// <summary>
/// The first step of a rebuild for an <see cref="IBulkRebuildProjection"/>: one pass over the feed up to a horizon, folded
/// by the projection and written to the shadow tables in a few transactions, then the shadow cursor set to the horizon.
/// </summary>
/// <remarks>
/// Crash safety: the shadow cursor stays null until the last write has committed, so an attempt that dies (process killed,
/// connection cut, ownership lost) leaves a rebuild that has not started as far as anyone can tell, and whoever owns the
/// projection next drops the half-filled shadow tables and starts again. Every write first checks, under the checkpoint's
/// row lock, that its attempt (<c>rebuild_started_at</c>) is still the current one, so a stale attempt can never write into
/// a later attempt's tables. The horizon is the feed's high-water mark, read in the same snapshot as the events: every
/// position at or below it is committed or provably dead, so the replay reads a fixed set that no later commit can add to.
/// Marten's gap detection counts transactions that started before a sequence hole as possible fillers of it, so a hole
/// left by a failed append while the scan runs can hold the mark (the feed and every projection) until the scan ends;
/// see docs/projections.md, "Late commits and holes".
/// </remarks>
internal sealed partial class ProjectionRunner
{
    // Set when a bulk replay of this projection threw: the rebuild is then done by replay batches, which stop at the exact
    // event that throws (and make it visible, retry and skip included). Cleared when a rebuild swaps in.
    private bool _bulkFailed;

    // The bulk replay runs beside the loop, not in it, so that live batches keep the live tables current meanwhile (its
    // writes and the live batches take turns on the checkpoint row, as replay batches do).
    private Task<bool>? _bulk;
    private CancellationTokenSource? _bulkStop;

    private bool UseBulkReplay => _options.BulkReplay && !_bulkFailed && _projection is IBulkRebuildProjection;

    /// <summary>Wakes the projection's loop (set by the daemon): a bulk replay that ends has work for it.</summary>
    public Action? Wake { get; set; }

    private void StartBulkReplay(CancellationToken cancellationToken)
    {
        if (_bulk is not null) return;
        _bulkStop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var token = _bulkStop.Token;
        _bulk = Task.Run(async () =>
        {
            try
            {
                return await RunBulkReplayAsync(token);
            }
            finally
            {
                Wake?.Invoke();
            }
        }, CancellationToken.None);
    }

    /// <summary>Observes a finished bulk replay: rethrows what is not the projection's fault, like a failed batch.</summary>
    private async Task TakeBulkReplayAsync()
    {
        var bulk = _bulk!;
        _bulk = null;
        _bulkStop?.Dispose();
        _bulkStop = null;
        try
        {
            await bulk;
        }
        catch (OperationCanceledException)
        {
            // Its loop stopped; whoever owns the projection next starts the rebuild again.
        }
    }

    /// <summary>When the projection's loop stops (released, session lost, node stopping): the bulk replay stops with it.</summary>
    public async Task StopBulkReplayAsync()
    {
        if (_bulk is null) return;
        await _bulkStop!.CancelAsync();
        try
        {
            await TakeBulkReplayAsync();
        }
        catch (Exception e) when (e is NpgsqlException or InvalidOperationException or TimeoutException)
        {
            LogBulkReplayStopped(_logger, e, Name);
        }
    }

    private async Task<bool> RunBulkReplayAsync(CancellationToken cancellationToken)
    {
        var projection = (IBulkRebuildProjection)_projection;
        DateTimeOffset attempt;
        await using (var connection = await _dataSource.OpenConnectionAsync(cancellationToken))
        await using (var transaction = await connection.BeginTransactionAsync(cancellationToken))
        {
            var locked = await ReadCheckpointAsync(connection, transaction, ProjectionSql.CheckpointLock, cancellationToken);
            if (locked is null || locked.Failed || !locked.RebuildRequested || locked.Shadow is not null) return true;
            foreach (var table in _tables.Values)
            {
                await ExecuteAsync(connection, transaction, Placeholders(ProjectionSql.RebuildCreateTable, table), cancellationToken);
            }

            await using (var start = new NpgsqlCommand(ProjectionSql.BulkStart, connection, transaction))
            {
                start.Parameters.Add(Text("name", Name));
                if (await start.ExecuteScalarAsync(cancellationToken) is not DateTime startedAt) return true;
                attempt = new DateTimeOffset(startedAt, TimeSpan.Zero);
            }

            await transaction.CommitAsync(cancellationToken);
        }

        LogBulkReplayStarted(_logger, Name);
        await using var reader = await _dataSource.OpenConnectionAsync(cancellationToken);
        // Repeatable read: the horizon, the count and the events all come from one snapshot (the events at or below the
        // mark would be the same set in any later snapshot too; the count and the scan then agree by construction).
        await using var snapshot = await reader.BeginTransactionAsync(IsolationLevel.RepeatableRead, cancellationToken);
        long mark;
        FeedCursor horizon;
        long total;
        await using (var command = new NpgsqlCommand(ProjectionSql.BulkHorizon, reader, snapshot))
        await using (var row = await command.ExecuteReaderAsync(cancellationToken))
        {
            await row.ReadAsync(cancellationToken);
            mark = row.GetInt64(0);
            // Replay batches carry on after the last event at or below the mark: a cursor is always an event's position.
            horizon = row.IsDBNull(1) ? FeedCursor.Start : new FeedCursor(row.GetInt64(1));
            total = row.GetInt64(2);
        }

        var read = 0L;
        var readToTheEnd = false;
        var replay = new BulkReplay(ReadStreamsAsync, WriteAsync);
        try
        {
            await projection.ReplayAsync(replay, cancellationToken);
            if (!readToTheEnd)
            {
                throw new InvalidOperationException(
                    $"Projection '{Name}' returned from its bulk replay before reading every event up to the horizon.");
            }
        }
        catch (BulkReplayAbandonedException)
        {
            LogBulkReplayAbandoned(_logger, Name);
            return true;
        }
        catch (Exception e) when (IsProjectionFault(e, reader, cancellationToken))
        {
            // Not retried in bulk: replay batches will find the exact event, or succeed if the fault was not the events'.
            _bulkFailed = true;
            LogBulkReplayFailed(_logger, e, Name);
            return true;
        }

        await using (var connection = await _dataSource.OpenConnectionAsync(cancellationToken))
        {
            var finished = await ExecuteAsync(connection, null, ProjectionSql.BulkFinish, cancellationToken,
                Text("name", Name), new NpgsqlParameter<DateTimeOffset>("started_at", attempt),
                Bigint("shadow_position", horizon.Position), Bigint("events_done", total));
            if (finished != 1)
            {
                LogBulkReplayAbandoned(_logger, Name);
                return true;
            }
        }

        LogBulkReplayFinished(_logger, Name, total, horizon);
        return true;

        async IAsyncEnumerable<IReadOnlyList<RecordedEvent>> ReadStreamsAsync([EnumeratorCancellation] CancellationToken token)
        {
            await foreach (var stream in StreamScan.ReadAllStreamsAsync(reader, snapshot, mark, projection.ReplayTypes, token))
            {
                read += stream.Count;
                yield return stream;
            }

            // Ended at once: the projection's last write may take a while, and a session idle in a transaction that long
            // would be ended by idle_in_transaction_session_timeout.
            await snapshot.CommitAsync(token);
            readToTheEnd = true;
        }

        async Task WriteAsync(Func<ProjectionBatch, CancellationToken, Task> write, CancellationToken token)
        {
            await using var connection = await _dataSource.OpenConnectionAsync(token);
            await using var transaction = await connection.BeginTransactionAsync(token);
            var current = await ExecuteAsync(connection, transaction, ProjectionSql.BulkWrite, token,
                Text("name", Name), new NpgsqlParameter<DateTimeOffset>("started_at", attempt),
                Bigint("events_done", Math.Min(read, total)));
            if (current != 1) throw new BulkReplayAbandonedException();
            await write(new ProjectionBatch(connection, transaction, [], logical => Resolve(logical, shadow: true)), token);
            await transaction.CommitAsync(token);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Projection {Projection}: the bulk replay ended with an error as its loop stopped.")]
    private static partial void LogBulkReplayStopped(ILogger logger, Exception exception, string projection);

    [LoggerMessage(Level = LogLevel.Information, Message = "Projection {Projection}: rebuild started, bulk replay into shadow tables.")]
    private static partial void LogBulkReplayStarted(ILogger logger, string projection);

    [LoggerMessage(Level = LogLevel.Information, Message = "Projection {Projection}: bulk replay wrote {Events} events up to {Cursor}; replay batches carry on from there.")]
    private static partial void LogBulkReplayFinished(ILogger logger, string projection, long events, FeedCursor cursor);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Projection {Projection}: the bulk replay is no longer the current rebuild; it stopped without writing.")]
    private static partial void LogBulkReplayAbandoned(ILogger logger, string projection);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Projection {Projection}: the bulk replay threw; the rebuild starts again with replay batches, which stop at the event that throws.")]
    private static partial void LogBulkReplayFailed(ILogger logger, Exception exception, string projection);
}
