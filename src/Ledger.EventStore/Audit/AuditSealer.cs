using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using NpgsqlTypes;

namespace Ledger.EventStore.Audit;

/// <summary>
/// Folds committed events, in feed order (position), into hash-chained blocks. Every node may run one: a
/// transaction-scoped advisory lock lets one seal at a time, and each seal reads the chain's tip under that lock, so
/// blocks are never forked or duplicated. Events are read only up to the feed's head (Marten's high-water mark), so an
/// event whose transaction commits late is sealed after it commits, never skipped (docs/auditing.md).
/// </summary>
public sealed class AuditSealer
{
    private readonly NpgsqlDataSource _dataSource;
    private readonly AuditSealerOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;

    /// <summary>Creates a sealer over the store's database.</summary>
    public AuditSealer(NpgsqlDataSource dataSource, AuditSealerOptions? options = null, TimeProvider? time = null, ILogger? logger = null)
    {
        _dataSource = dataSource ?? throw new ArgumentNullException(nameof(dataSource));
        _options = options ?? new AuditSealerOptions();
        _options.Validate();
        _time = time ?? TimeProvider.System;
        _logger = logger ?? NullLogger.Instance;
    }

    /// <summary>
    /// Seals one block if there is one to seal: a full block whenever <see cref="AuditSealerOptions.BlockSize"/> committed
    /// events wait, a partial one only when <paramref name="sealPartial"/> is set.
    /// </summary>
    /// <returns>The block sealed, or null when another node holds the sealer lock or there is nothing (full) to seal.</returns>
    public async Task<SealedBlock?> SealNextAsync(bool sealPartial, CancellationToken cancellationToken = default)
    {
        var (block, _) = await SealOrCountAsync(sealPartial, cancellationToken);
        return block;
    }

    /// <summary>Seals everything committed so far, partial last block included (tests, exports, shutdown).</summary>
    /// <returns>The blocks sealed.</returns>
    public async Task<IReadOnlyList<SealedBlock>> SealAllAsync(CancellationToken cancellationToken = default)
    {
        var sealedBlocks = new List<SealedBlock>();
        while (await SealNextAsync(sealPartial: true, cancellationToken) is { } block) sealedBlocks.Add(block);
        return sealedBlocks;
    }

    /// <summary>Runs until cancelled: seals full blocks at once and partial ones once their first event has waited the seal interval.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        DateTimeOffset? pendingSince = null;
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                var partialDue = pendingSince is { } since && _time.GetUtcNow() - since >= _options.SealInterval;
                var (block, pending) = await SealOrCountAsync(partialDue, cancellationToken);
                if (block is not null)
                {
                    _logger.LogDebug("Sealed block {BlockNumber} with {EventCount} events", block.Number, block.EventCount);
                    pendingSince = null;
                    continue;
                }

                pendingSince = pending > 0 ? pendingSince ?? _time.GetUtcNow() : null;
                await Task.Delay(_options.PollInterval, _time, cancellationToken);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is NpgsqlException or TimeoutException or InvalidOperationException)
            {
                _logger.LogWarning(e, "The audit sealer could not seal; retrying in {Delay}", _options.RetryDelay);
                try
                {
                    await Task.Delay(_options.RetryDelay, _time, cancellationToken);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    private async Task<(SealedBlock? Block, int Pending)> SealOrCountAsync(bool sealPartial, CancellationToken cancellationToken)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);

        await using (var lockCommand = new NpgsqlCommand(AuditSql.SealerLock, connection, transaction))
        {
            if (await lockCommand.ExecuteScalarAsync(cancellationToken) is not true) return (null, 0);
        }

        long after;
        SealedBlockHeader? tip;
        await using (var stateCommand = new NpgsqlCommand(AuditSql.SealerState, connection, transaction))
        await using (var reader = await stateCommand.ExecuteReaderAsync(cancellationToken))
        {
            if (!await reader.ReadAsync(cancellationToken)) throw new InvalidOperationException("ledger.audit_sealer has no row: run the migrations.");
            after = reader.GetInt64(0);
            tip = reader.IsDBNull(1) ? null : new SealedBlockHeader(reader.GetInt64(1), reader.GetFieldValue<byte[]>(2));
        }

        var pending = new List<(long Position, byte[] Hash)>(Math.Min(_options.BlockSize, 4096));
        await using (var pendingCommand = new NpgsqlCommand(AuditSql.Pending, connection, transaction))
        {
            pendingCommand.Parameters.AddWithValue("after_position", after);
            pendingCommand.Parameters.AddWithValue("max_count", (long)_options.BlockSize);
            await using var reader = await pendingCommand.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken)) pending.Add((reader.GetInt64(0), reader.GetFieldValue<byte[]>(1)));
        }

        if (pending.Count == 0 || (pending.Count < _options.BlockSize && !sealPartial))
        {
            await transaction.CommitAsync(cancellationToken);
            return (null, pending.Count);
        }

        var block = SealedBlock.Seal(tip, pending, _time.GetUtcNow());
        await using (var batch = new NpgsqlBatch(connection, transaction))
        {
            var insert = new NpgsqlBatchCommand(AuditSql.SealBlock[0]);
            insert.Parameters.AddWithValue("block_number", block.Number);
            insert.Parameters.AddWithValue("positions", block.Positions.ToArray());
            insert.Parameters.AddWithValue("event_hashes", AuditSql.Pack(block.EventHashes));
            insert.Parameters.AddWithValue("merkle_root", block.MerkleRoot);
            insert.Parameters.Add(new NpgsqlParameter("previous_chain_hash", NpgsqlDbType.Bytea) { Value = (object?)block.PreviousChainHash ?? DBNull.Value });
            insert.Parameters.AddWithValue("chain_hash", block.ChainHash);
            insert.Parameters.AddWithValue("sealed_at", block.SealedAt);
            batch.BatchCommands.Add(insert);

            var advance = new NpgsqlBatchCommand(AuditSql.SealBlock[1]);
            advance.Parameters.AddWithValue("through_position", pending[^1].Position);
            batch.BatchCommands.Add(advance);
            await batch.ExecuteNonQueryAsync(cancellationToken);
        }

        await transaction.CommitAsync(cancellationToken);
        return (block, pending.Count);
    }
}
