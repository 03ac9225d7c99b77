using Ledger.EventStore.Projections;
using Ledger.EventStore.Schema;
using Ledger.Testing;
using Npgsql;

namespace Ledger.EventStore.Tests.Projections;

/// <summary>
/// The fence every daemon batch ends with (migration 0011, issue 13): a batch commits only if its own transaction moved the
/// shard's progression, i.e. Marten's guarded update (<c>where last_seq_id = floor</c>, which in Marten 9.62.0 does not
/// stop a batch with our writes) matched. Run here with Marten's own statement, as two nodes' batches would.
/// </summary>
public sealed class ProgressFenceTests(DatabaseFixture database) : IClassFixture<DatabaseFixture>
{
    private const string Shard = "throughput:All";

    // Marten 9.62.0's UpdateProjectionProgress, as it sends it.
    private const string GuardedUpdate =
        "update ledger.mt_event_progression set last_seq_id = @ceiling, last_updated = transaction_timestamp() where name = @name and last_seq_id = @floor";

    private const string Fence = "select ledger.projection_progress_fence(@name)";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_batch_that_moved_the_progression_itself_passes_the_fence()
    {
        await using var db = await database.CreateDatabaseAsync(Ct);
        await using var dataSource = await MigratedAsync(db);

        await using var connection = await dataSource.OpenConnectionAsync(Ct);
        await using var transaction = await connection.BeginTransactionAsync(Ct);
        Assert.Equal(1, await MoveAsync(connection, transaction, floor: 10, ceiling: 20));
        Assert.True(await FenceAsync(connection, transaction));
        await transaction.CommitAsync(Ct);

        Assert.Equal(20L, await ProgressionAsync(dataSource));
    }

    [Fact]
    public async Task A_stale_batch_whose_floor_another_node_moved_first_fails_with_LR002()
    {
        await using var db = await database.CreateDatabaseAsync(Ct);
        await using var dataSource = await MigratedAsync(db);
        await using (var other = await dataSource.OpenConnectionAsync(Ct))
        await using (var moved = await other.BeginTransactionAsync(Ct))
        {
            await MoveAsync(other, moved, floor: 10, ceiling: 30);
            await moved.CommitAsync(Ct);
        }

        await using var connection = await dataSource.OpenConnectionAsync(Ct);
        await using var transaction = await connection.BeginTransactionAsync(Ct);
        Assert.Equal(0, await MoveAsync(connection, transaction, floor: 10, ceiling: 20));
        var refused = await Assert.ThrowsAsync<PostgresException>(() => FenceAsync(connection, transaction));

        Assert.Equal(ProjectionFaults.MovedOnSqlState, refused.SqlState);
        Assert.Equal(30L, await ProgressionAsync(dataSource));
    }

    [Fact]
    public async Task Of_two_batches_on_one_floor_the_one_that_waited_for_the_other_fails_with_LR002()
    {
        await using var db = await database.CreateDatabaseAsync(Ct);
        await using var dataSource = await MigratedAsync(db);
        await using var first = await dataSource.OpenConnectionAsync(Ct);
        await using var firstTransaction = await first.BeginTransactionAsync(Ct);
        Assert.Equal(1, await MoveAsync(first, firstTransaction, floor: 10, ceiling: 20));

        await using var second = await dataSource.OpenConnectionAsync(Ct);
        await using var secondTransaction = await second.BeginTransactionAsync(Ct);
        // Blocks on the first batch's row lock until it commits, then matches nothing.
        var waiting = MoveAsync(second, secondTransaction, floor: 10, ceiling: 25);
        await Eventually.HoldsAsync(async () => await WaitingForLockAsync(dataSource), "the second batch waits for the first one's row lock");
        Assert.True(await FenceAsync(first, firstTransaction));
        await firstTransaction.CommitAsync(Ct);

        Assert.Equal(0, await waiting);
        var refused = await Assert.ThrowsAsync<PostgresException>(() => FenceAsync(second, secondTransaction));
        Assert.Equal(ProjectionFaults.MovedOnSqlState, refused.SqlState);
        Assert.Equal(20L, await ProgressionAsync(dataSource));
    }

    private static async Task<NpgsqlDataSource> MigratedAsync(TestDatabase db)
    {
        var dataSource = db.CreateDataSource();
        await new Migrator(dataSource).MigrateAsync([EventStoreSchema.Migrations], Ct);
        await using var row = dataSource.CreateCommand("insert into ledger.mt_event_progression (name, last_seq_id) values (@name, 10)");
        row.Parameters.AddWithValue("name", Shard);
        await row.ExecuteNonQueryAsync(Ct);
        return dataSource;
    }

    private static async Task<int> MoveAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, long floor, long ceiling)
    {
        await using var command = new NpgsqlCommand(GuardedUpdate, connection, transaction);
        command.Parameters.AddWithValue("ceiling", ceiling);
        command.Parameters.AddWithValue("name", Shard);
        command.Parameters.AddWithValue("floor", floor);
        return await command.ExecuteNonQueryAsync(Ct);
    }

    private static async Task<bool> FenceAsync(NpgsqlConnection connection, NpgsqlTransaction transaction)
    {
        await using var command = new NpgsqlCommand(Fence, connection, transaction);
        command.Parameters.AddWithValue("name", Shard);
        return (bool)(await command.ExecuteScalarAsync(Ct))!;
    }

    private static Task<long> ProgressionAsync(NpgsqlDataSource dataSource) =>
        Db.ScalarAsync<long>(dataSource, "select last_seq_id from ledger.mt_event_progression where name = @name", new NpgsqlParameter("name", Shard));

    private static Task<bool> WaitingForLockAsync(NpgsqlDataSource dataSource) =>
        Db.ScalarAsync<bool>(dataSource, "select exists (select 1 from pg_stat_activity where wait_event_type = 'Lock' and datname = current_database())");
}
