using Npgsql;

namespace Ledger.Testing.Tests;

public sealed class SharedServerTests(DatabaseFixture database, PostgresServerFixture postgres) : IClassFixture<DatabaseFixture>
{
    [Fact]
    public async Task The_shared_server_runs_PostgreSQL_15_or_later()
    {
        var versionNumber = int.Parse(
            await Sql.ScalarAsync<string>(database.ConnectionString, "show server_version_num"),
            System.Globalization.CultureInfo.InvariantCulture);
        var version = await Sql.ScalarAsync<string>(database.ConnectionString, "select version()");

        Assert.True(versionNumber >= 15_00_00, $"Expected PostgreSQL 15 or later, got {version}.");
        Assert.StartsWith("PostgreSQL ", version, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Every_class_in_the_process_shares_one_server()
    {
        var server = await PostgresServer.GetAsync(TestContext.Current.CancellationToken);

        Assert.Same(server, postgres.Server);
        Assert.Same(server, database.Server);
        if (Environment.GetEnvironmentVariable(PostgresServer.ExternalServerVariable) is null)
        {
            Assert.NotNull(server.Container);
            Assert.True(await OwnedContainers.ExistsAsync(server.Container.Id, TestContext.Current.CancellationToken));
        }
    }

    [Fact]
    public async Task The_class_database_is_named_after_the_class_and_is_where_connections_land()
    {
        var current = await Sql.ScalarAsync<string>(database.ConnectionString, "select current_database()");

        Assert.Equal(database.Name, current);
        Assert.Contains("sharedservertests", database.Name, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Each_class_gets_a_database_of_its_own()
    {
        var first = new DatabaseFixture();
        var second = new DatabaseFixture();
        await first.InitializeAsync();
        await second.InitializeAsync();
        try
        {
            Assert.Equal(0, await Sql.TableCountAsync(first.ConnectionString));
            Assert.Equal(0, await Sql.TableCountAsync(second.ConnectionString));

            await Sql.ExecuteAsync(first.ConnectionString, "create table only_in_the_first (id int)");

            Assert.Equal(1, await Sql.TableCountAsync(first.ConnectionString));
            Assert.Equal(0, await Sql.TableCountAsync(second.ConnectionString));
            Assert.Equal(3, new[] { first.Name, second.Name, database.Name }.Distinct().Count());
        }
        finally
        {
            await first.DisposeAsync();
            await second.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_class_database_is_dropped_when_the_class_is_done()
    {
        var fixture = new DatabaseFixture();
        await fixture.InitializeAsync();
        var name = fixture.Name;
        Assert.True(await Sql.DatabaseExistsAsync(fixture.Server, name));

        await fixture.DisposeAsync();

        Assert.False(await Sql.DatabaseExistsAsync(database.Server, name));
    }

    [Fact]
    public async Task A_test_can_have_a_fresh_empty_database_to_itself()
    {
        await Sql.ExecuteAsync(database.ConnectionString, "create table if not exists left_by_another_test (id int)");

        string name;
        await using (var own = await database.CreateDatabaseAsync(TestContext.Current.CancellationToken))
        {
            name = own.Name;
            Assert.NotEqual(database.Name, own.Name);
            Assert.Equal(0, await Sql.TableCountAsync(own.ConnectionString));
            Assert.Equal(own.Name, await Sql.ScalarAsync<string>(own.ConnectionString, "select current_database()"));
        }

        Assert.False(await Sql.DatabaseExistsAsync(database.Server, name));
    }

    [Fact]
    public async Task Dropping_a_database_ends_the_connections_still_open_to_it()
    {
        var own = await database.CreateDatabaseAsync(TestContext.Current.CancellationToken);
        var dataSource = own.CreateDataSource();
        await using var heldFromDataSource = await dataSource.OpenConnectionAsync(TestContext.Current.CancellationToken);
        await using var heldDirectly = new NpgsqlConnection(own.ConnectionString);
        await heldDirectly.OpenAsync(TestContext.Current.CancellationToken);

        await own.DisposeAsync();

        Assert.False(await Sql.DatabaseExistsAsync(database.Server, own.Name));
        await Assert.ThrowsAsync<ObjectDisposedException>(async () => await dataSource.OpenConnectionAsync(TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task Each_data_source_is_a_pool_of_its_own()
    {
        static void OneConnectionAtMost(NpgsqlDataSourceBuilder builder)
        {
            builder.ConnectionStringBuilder.MaxPoolSize = 1;
            builder.ConnectionStringBuilder.Timeout = 5;
            builder.ConnectionStringBuilder.ApplicationName = "node";
        }

        var nodeA = database.CreateDataSource(OneConnectionAtMost);
        var nodeB = database.CreateDataSource(OneConnectionAtMost);
        await using var heldByA = await nodeA.OpenConnectionAsync(TestContext.Current.CancellationToken);

        // Were the two one pool, its single connection would be taken and this would time out.
        await using var fromB = await nodeB.OpenConnectionAsync(TestContext.Current.CancellationToken);
        await using var command = new NpgsqlCommand("select current_setting('application_name')", fromB);

        Assert.Equal("node", await command.ExecuteScalarAsync(TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task Many_databases_can_be_created_at_once()
    {
        var created = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => database.CreateDatabaseAsync(TestContext.Current.CancellationToken)));
        try
        {
            Assert.Equal(8, created.Select(d => d.Name).Distinct().Count());
            foreach (var each in created)
            {
                Assert.True(await Sql.DatabaseExistsAsync(database.Server, each.Name));
            }
        }
        finally
        {
            await Task.WhenAll(created.Select(d => d.DisposeAsync().AsTask()));
        }
    }
}
