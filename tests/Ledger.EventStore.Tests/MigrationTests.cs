using Ledger.EventStore.Schema;
using Ledger.Testing;
using Npgsql;

namespace Ledger.EventStore.Tests;

public sealed class MigrationTests(DatabaseFixture database) : IClassFixture<DatabaseFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Migrations_run_twice_apply_once()
    {
        await using var db = await database.CreateDatabaseAsync(Ct);
        await using var dataSource = db.CreateDataSource();
        var migrator = new Migrator(dataSource);

        var first = await migrator.MigrateAsync([EventStoreSchema.Migrations], Ct);
        var second = await migrator.MigrateAsync([EventStoreSchema.Migrations], Ct);

        Assert.NotEmpty(first);
        Assert.Empty(second);
        Assert.True(await migrator.IsUpToDateAsync([EventStoreSchema.Migrations], Ct));
        Assert.Equal(first.Count, await CountAsync(dataSource, "select count(*) from ledger.migrations"));
    }

    [Fact]
    public async Task Nodes_starting_at_once_migrate_without_racing()
    {
        await using var db = await database.CreateDatabaseAsync(Ct);
        var dataSources = Enumerable.Range(0, 8).Select(_ => db.CreateDataSource()).ToArray();

        var applied = await Task.WhenAll(dataSources.Select(ds => new Migrator(ds).MigrateAsync([EventStoreSchema.Migrations], Ct)));

        // Exactly one node applied each migration; the others waited on the lock and found nothing to do.
        var expected = EventStoreSchema.Migrations.Load().Count;
        Assert.Equal(expected, applied.Sum(a => a.Count));
        Assert.Single(applied, a => a.Count > 0);
        Assert.Equal(expected, await CountAsync(dataSources[0], "select count(*) from ledger.migrations"));
        foreach (var ds in dataSources) await ds.DisposeAsync();
    }

    [Fact]
    public async Task A_database_without_the_schema_is_reported_as_not_up_to_date()
    {
        await using var db = await database.CreateDatabaseAsync(Ct);
        await using var dataSource = db.CreateDataSource();

        Assert.False(await new Migrator(dataSource).IsUpToDateAsync([EventStoreSchema.Migrations], Ct));
    }

    [Fact]
    public async Task A_migration_changed_after_it_ran_stops_start_up()
    {
        await using var db = await database.CreateDatabaseAsync(Ct);
        await using var dataSource = db.CreateDataSource();
        var migrator = new Migrator(dataSource);
        await migrator.MigrateAsync([EventStoreSchema.Migrations], Ct);
        await using (var tamper = dataSource.CreateCommand("update ledger.migrations set checksum = 'edited' where version = 1"))
        {
            await tamper.ExecuteNonQueryAsync(Ct);
        }

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => migrator.MigrateAsync([EventStoreSchema.Migrations], Ct));

        Assert.Contains("was changed after it was applied", error.Message, StringComparison.Ordinal);
    }

    private static async Task<long> CountAsync(NpgsqlDataSource dataSource, string sql)
    {
        await using var command = dataSource.CreateCommand(sql);
        return (long)(await command.ExecuteScalarAsync(Ct))!;
    }
}
