using Ledger.Testing;

namespace Ledger.EventStore.Tests;

/// <summary>The session settings every connection of the process's data source carries (EventStoreDataSource).</summary>
public sealed class DataSourceTests(DatabaseFixture database) : IClassFixture<DatabaseFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Sessions_end_idle_transactions_and_never_compile_a_plan_with_jit()
    {
        await using var db = await database.CreateDatabaseAsync(Ct);
        await using var dataSource = EventStoreDataSource.Create(db.ConnectionString, idleInTransactionTimeout: TimeSpan.FromSeconds(7));

        await using var command = dataSource.CreateCommand("select current_setting('jit'), current_setting('idle_in_transaction_session_timeout')");
        await using var reader = await command.ExecuteReaderAsync(Ct);
        await reader.ReadAsync(Ct);

        Assert.Equal("off", reader.GetString(0));
        Assert.Equal("7s", reader.GetString(1));
    }

    [Fact]
    public async Task A_connection_string_that_sets_jit_itself_keeps_its_setting()
    {
        await using var db = await database.CreateDatabaseAsync(Ct);
        await using var dataSource = EventStoreDataSource.Create($"{db.ConnectionString};Options=-c jit=on");

        await using var command = dataSource.CreateCommand("select current_setting('jit')");

        Assert.Equal("on", await command.ExecuteScalarAsync(Ct));
    }
}
