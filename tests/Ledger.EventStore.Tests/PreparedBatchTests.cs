using Ledger.Testing;
using Npgsql;

namespace Ledger.EventStore.Tests;

/// <summary>
/// A request's reads in one prepared round trip (PreparedBatch; the reports read their read model's status and rows this
/// way, issue 15 P5): each read gets its own rows, statements are prepared once per pooled connection, and a read that
/// fails leaves the connection fit for the next request.
/// </summary>
public sealed class PreparedBatchTests(DatabaseFixture database) : IClassFixture<DatabaseFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private const string Numbers = "select n from batch_numbers where n <= @max order by n";
    private const string Label = "select @label::text || '!'";

    [Fact]
    public async Task Each_read_holds_its_own_rows_and_the_statements_are_prepared_once_per_connection()
    {
        await using var db = await database.CreateDatabaseAsync(Ct);
        // One pooled connection: the second batch runs on the connection that prepared the first.
        await using var dataSource = EventStoreDataSource.Create($"{db.ConnectionString};Maximum Pool Size=1");
        await CreateNumbersAsync(dataSource);

        for (var max = 3; max <= 4; max++)
        {
            var batch = new PreparedBatch();
            var numbers = batch.Add(Numbers, p => p.Add(new NpgsqlParameter<int>("max", max)), r => r.GetInt32(0));
            var none = batch.Add(Numbers, p => p.Add(new NpgsqlParameter<int>("max", 0)), r => r.GetInt32(0));
            var label = batch.Add(Label, p => p.Add(new NpgsqlParameter<string>("label", $"max {max}")), r => r.GetString(0));
            await batch.ExecuteAsync(dataSource, Ct);

            Assert.Equal(Enumerable.Range(1, max), numbers.Rows);
            Assert.Empty(none.Rows);
            Assert.Equal([$"max {max}!"], label.Rows);
        }

        await using var connection = await dataSource.OpenConnectionAsync(Ct);
        await using var prepared = new NpgsqlCommand(
            "select count(*) from pg_prepared_statements where statement like '%batch_numbers%' or statement like '%::text || %'", connection);
        Assert.Equal(2L, await prepared.ExecuteScalarAsync(Ct));
    }

    [Fact]
    public async Task A_read_that_fails_throws_and_the_connection_serves_the_next_batch()
    {
        await using var db = await database.CreateDatabaseAsync(Ct);
        await using var dataSource = EventStoreDataSource.Create($"{db.ConnectionString};Maximum Pool Size=1");
        await CreateNumbersAsync(dataSource);

        var warm = new PreparedBatch();
        warm.Add(Numbers, p => p.Add(new NpgsqlParameter<int>("max", 2)), r => r.GetInt32(0));
        await warm.ExecuteAsync(dataSource, Ct);

        var failing = new PreparedBatch();
        var before = failing.Add(Numbers, p => p.Add(new NpgsqlParameter<int>("max", 2)), r => r.GetInt32(0));
        failing.Add("select 1 / (n - n) from batch_numbers where n = @n", p => p.Add(new NpgsqlParameter<int>("n", 1)), r => r.GetInt32(0));
        var error = await Assert.ThrowsAsync<PostgresException>(() => failing.ExecuteAsync(dataSource, Ct));
        Assert.Equal(PostgresErrorCodes.DivisionByZero, error.SqlState);
        Assert.Throws<InvalidOperationException>(() => before.Rows);

        var next = new PreparedBatch();
        var numbers = next.Add(Numbers, p => p.Add(new NpgsqlParameter<int>("max", 5)), r => r.GetInt32(0));
        await next.ExecuteAsync(dataSource, Ct);
        Assert.Equal(Enumerable.Range(1, 5), numbers.Rows);
    }

    private static async Task CreateNumbersAsync(NpgsqlDataSource dataSource)
    {
        await using var create = dataSource.CreateCommand(
            "create table batch_numbers (n int primary key); insert into batch_numbers select generate_series(1, 10)");
        await create.ExecuteNonQueryAsync(Ct);
    }
}
