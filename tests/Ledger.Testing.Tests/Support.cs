using System.Diagnostics;
using Npgsql;

namespace Ledger.Testing.Tests;

internal static class Sql
{
    /// <summary>
    /// Unpooled, because these tests stop and kill servers: a pooled connection would survive that and fail the next
    /// statement for reasons that have nothing to do with what is being tested.
    /// </summary>
    public static string Unpooled(string connectionString) =>
        new NpgsqlConnectionStringBuilder(connectionString) { Pooling = false }.ConnectionString;

    public static async Task<T> ScalarAsync<T>(string connectionString, string sql)
    {
        await using var connection = new NpgsqlConnection(Unpooled(connectionString));
        await connection.OpenAsync(TestContext.Current.CancellationToken);
        await using var command = new NpgsqlCommand(sql, connection);
        return (T)(await command.ExecuteScalarAsync(TestContext.Current.CancellationToken))!;
    }

    public static async Task ExecuteAsync(string connectionString, string sql)
    {
        await using var connection = new NpgsqlConnection(Unpooled(connectionString));
        await connection.OpenAsync(TestContext.Current.CancellationToken);
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync(TestContext.Current.CancellationToken);
    }

    public static Task<long> TableCountAsync(string connectionString) =>
        ScalarAsync<long>(connectionString, "select count(*) from information_schema.tables where table_schema = 'public'");

    public static async Task<bool> DatabaseExistsAsync(PostgresServer server, string name)
    {
        await using var connection = new NpgsqlConnection(Unpooled(server.SuperuserConnectionString));
        await connection.OpenAsync(TestContext.Current.CancellationToken);
        await using var command = new NpgsqlCommand("select exists (select from pg_database where datname = $1)", connection)
        {
            Parameters = { new() { Value = name } },
        };
        return (bool)(await command.ExecuteScalarAsync(TestContext.Current.CancellationToken))!;
    }
}

internal static class Eventually
{
    /// <summary>Waits for a condition that becomes true on its own (a killed process being gone), up to a deadline.</summary>
    public static async Task HoldsAsync(Func<bool> condition, string what, TimeSpan? within = null)
    {
        var deadline = Stopwatch.StartNew();
        var limit = within ?? TimeSpan.FromSeconds(30);
        while (!condition())
        {
            if (deadline.Elapsed > limit)
            {
                Assert.Fail($"Expected {what} within {limit.TotalSeconds:0} s.");
            }

            await Task.Delay(TimeSpan.FromMilliseconds(50), TestContext.Current.CancellationToken);
        }
    }
}
