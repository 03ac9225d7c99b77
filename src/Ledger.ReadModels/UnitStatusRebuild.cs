using Ledger.EventStore;
using Ledger.EventStore.Projections;
using Npgsql;

namespace Ledger.ReadModels;

/// <summary>
/// Rebuilds the inline UnitStatus table blue/green: refolds every stream (one pass over the store) into a shadow table while the live one keeps
/// answering and keeps being written by appends, then, under a short EXCLUSIVE lock (appends wait, reads go on), refolds
/// the units that moved on meanwhile and renames the shadow into place. An append waiting on the lock resolves the
/// table name again once it gets it, so its row lands in the new table.
/// </summary>
public sealed class UnitStatusRebuild(NpgsqlDataSource dataSource)
{
    private const string Shadow = "ledger.unit_status__rebuild";
    private static readonly string Prepare = UnitStatusProjection.Read("unit_status_rebuild_prepare.sql");
    private static readonly string Changed = UnitStatusProjection.Read("unit_status_rebuild_changed.sql");
    private static readonly string Count = UnitStatusProjection.Read("unit_status_rebuild_count.sql");
    private static readonly string Swap = UnitStatusProjection.Read("unit_status_rebuild_swap.sql");

    /// <summary>Runs between the replay and the swap: tests use it to append exactly where a rebuild could lose an event.</summary>
    internal Func<CancellationToken, Task>? BeforeSwap { get; init; }

    /// <summary>Runs the rebuild; <paramref name="progress"/> hears the units refolded so far and the total.</summary>
    /// <exception cref="InvalidOperationException">Another rebuild of UnitStatus is running (on any node).</exception>
    public async Task<long> RunAsync(IProgress<(long Done, long Total)>? progress, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);

        // One rebuild at a time across all nodes: two would drop each other's shadow table. A session lock, released
        // when this connection closes, whatever happens.
        await using (var tryLock = new NpgsqlCommand("select pg_try_advisory_lock(1280263492, hashtext('unit-status-rebuild'))", connection))
        {
            if (await tryLock.ExecuteScalarAsync(cancellationToken) is not true)
                throw new InvalidOperationException("A rebuild of unit-status is already running.");
        }

        await using (var prepare = new NpgsqlCommand(Prepare, connection)) await prepare.ExecuteNonQueryAsync(cancellationToken);
        // Copied into without its indexes (the primary key and four more), which are built once the rows are in: cheaper
        // than maintaining five indexes row by row through the COPY (docs/benchmarks.md, "Rebuilds"). A rebuild that dies
        // before the swap leaves only the shadow, which the next one drops.
        var indexes = await DeferredIndexes.DropAsync(connection, null, Shadow, cancellationToken);

        long total;
        await using (var count = new NpgsqlCommand(Count, connection))
        {
            total = (long)(await count.ExecuteScalarAsync(cancellationToken))!;
        }

        // One pass over the store, stream by stream, from one snapshot, on a second connection: each unit is folded with
        // the same code as the inline projection and its row copied into the shadow table in chunks. Units that move on
        // after the snapshot are refolded under the swap's lock. (While the scan runs, Marten may not prove a sequence hole
        // left by a failed append dead, and the feed's high-water mark can wait for the scan: docs/projections.md.)
        var done = 0L;
        {
            var rows = new List<UnitStatus>(BulkCopy.ChunkRows);
            await using (var reader = await dataSource.OpenConnectionAsync(cancellationToken))
            await using (var snapshot = await reader.BeginTransactionAsync(System.Data.IsolationLevel.RepeatableRead, cancellationToken))
            {
                await foreach (var stream in StreamScan.ReadAllStreamsAsync(reader, snapshot, upToPosition: null, types: null, cancellationToken))
                {
                    rows.Add(UnitStatusProjection.FoldStream(stream));
                    if (rows.Count < BulkCopy.ChunkRows) continue;
                    await UnitStatusProjection.CopyAsync(connection, rows, Shadow, cancellationToken);
                    done += rows.Count;
                    rows.Clear();
                    progress?.Report((done, Math.Max(done, total)));
                }

                await snapshot.CommitAsync(cancellationToken);
            }

            await UnitStatusProjection.CopyAsync(connection, rows, Shadow, cancellationToken);
            done += rows.Count;
            progress?.Report((done, Math.Max(done, total)));

            // Before the swap's lock, so appends do not wait for the index builds; the refold under the lock upserts on
            // the primary key.
            await DeferredIndexes.CreateAsync(connection, null, indexes, cancellationToken);
            if (BeforeSwap is not null) await BeforeSwap(cancellationToken);
            await using var swap = await connection.BeginTransactionAsync(cancellationToken);
            await using (var lockTable = new NpgsqlCommand("lock table ledger.unit_status in exclusive mode", connection, swap))
            {
                await lockTable.ExecuteNonQueryAsync(cancellationToken);
            }

            var changed = new List<string>();
            await using (var command = new NpgsqlCommand(Changed, connection, swap))
            await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
            {
                while (await reader.ReadAsync(cancellationToken)) changed.Add(reader.GetString(0));
            }

            if (changed.Count > 0) await UnitStatusProjection.RefoldAsync(connection, swap, changed, Shadow, cancellationToken);
            await using (var rename = new NpgsqlCommand(Swap, connection, swap)) await rename.ExecuteNonQueryAsync(cancellationToken);
            await swap.CommitAsync(cancellationToken);
            done += changed.Count;
        }

        progress?.Report((done, Math.Max(done, total)));
        return done;
    }
}
