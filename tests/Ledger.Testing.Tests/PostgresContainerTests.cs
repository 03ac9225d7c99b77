using Npgsql;

namespace Ledger.Testing.Tests;

/// <summary>Each test runs a container of its own, so that crashing servers leaves the shared one alone.</summary>
public sealed class PostgresContainerTests
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_crashed_server_refuses_connections_then_restarts_on_the_same_port_with_its_committed_data()
    {
        await using var postgres = await PostgresContainer.StartAsync(Ct);
        var port = postgres.Port;
        await Sql.ExecuteAsync(postgres.ConnectionString(), "create table kept (id int); insert into kept values (42)");
        await using var held = new NpgsqlConnection(postgres.ConnectionString());
        await held.OpenAsync(Ct);

        await postgres.CrashAsync(Ct);

        await Assert.ThrowsAnyAsync<NpgsqlException>(() => Sql.ScalarAsync<int>(postgres.ConnectionString(), "select 1"));
        await using (var command = new NpgsqlCommand("select 1", held))
        {
            await Assert.ThrowsAnyAsync<NpgsqlException>(() => command.ExecuteScalarAsync(Ct));
        }

        await postgres.RestartAsync(Ct);

        Assert.Equal(port, postgres.Port);
        Assert.Equal(42, await Sql.ScalarAsync<int>(postgres.ConnectionString(), "select id from kept"));
    }

    [Fact]
    public async Task A_commit_acknowledged_just_before_a_crash_survives_it()
    {
        await using var postgres = await PostgresContainer.StartAsync(Ct);
        await Sql.ExecuteAsync(postgres.ConnectionString(), "create table acknowledged (id int)");
        // With synchronous_commit off (Testcontainers' default) the last commits before an immediate shutdown are lost.
        for (var i = 1; i <= 20; i++)
        {
            await Sql.ExecuteAsync(postgres.ConnectionString(), $"insert into acknowledged values ({i})");
        }

        await postgres.CrashAsync(Ct);
        await postgres.RestartAsync(Ct);

        Assert.Equal(20, await Sql.ScalarAsync<long>(postgres.ConnectionString(), "select count(*) from acknowledged"));
    }

    [Fact]
    public async Task A_wrong_password_is_refused_over_TCP()
    {
        await using var postgres = await PostgresContainer.StartAsync(Ct);
        var wrong = new NpgsqlConnectionStringBuilder(postgres.ConnectionString()) { Password = "not-the-password", Pooling = false };

        var refused = await Assert.ThrowsAsync<PostgresException>(() => Sql.ScalarAsync<int>(wrong.ConnectionString, "select 1"));

        Assert.Equal(PostgresErrorCodes.InvalidPassword, refused.SqlState);
    }

    [Fact]
    public async Task The_server_runs_with_the_test_settings()
    {
        await using var postgres = await PostgresContainer.StartAsync(Ct);

        Assert.Equal("off", await Sql.ScalarAsync<string>(postgres.ConnectionString(), "show fsync"));
        Assert.Equal("400", await Sql.ScalarAsync<string>(postgres.ConnectionString(), "show max_connections"));
        Assert.Equal("on", await Sql.ScalarAsync<string>(postgres.ConnectionString(), "show synchronous_commit"));
    }
}
