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
    public async Task The_own_daemons_positions_are_handed_to_martens_daemon_so_the_read_models_carry_on_where_they_stood()
    {
        await using var db = await database.CreateDatabaseAsync(Ct);
        await using var dataSource = db.CreateDataSource();
        var migrations = EventStoreSchema.Migrations.Load();
        var handOver = migrations.Single(m => m.Name == "own_daemon_removed");
        // A ledger of the release before: every migration up to the hand-over (in the schema the migrator creates), its own
        // daemon's rows in place.
        await using (var schema = dataSource.CreateCommand("create schema ledger"))
        {
            await schema.ExecuteNonQueryAsync(Ct);
        }

        foreach (var migration in migrations.Where(m => m.Version < handOver.Version))
        {
            await using var step = dataSource.CreateCommand(migration.Sql);
            await step.ExecuteNonQueryAsync(Ct);
        }

        await using (var seed = dataSource.CreateCommand("""
            insert into ledger.projection_checkpoints (name, position) values ('kept', 41), ('fresh', 0), ('raced', 7);
            insert into ledger.projection_nodes (node_id) values ('old-node');
            -- A shard Marten already moved (say a node of the new release ran first) keeps Marten's position.
            insert into ledger.mt_event_progression (name, last_seq_id) values ('raced:All', 12);
            """))
        {
            await seed.ExecuteNonQueryAsync(Ct);
        }

        await using (var step = dataSource.CreateCommand(handOver.Sql))
        {
            await step.ExecuteNonQueryAsync(Ct);
        }

        Assert.Equal(41, await CountAsync(dataSource, "select last_seq_id from ledger.mt_event_progression where name = 'kept:All'"));
        Assert.Equal(0, await CountAsync(dataSource, "select count(*) from ledger.mt_event_progression where name = 'fresh:All'"));
        Assert.Equal(12, await CountAsync(dataSource, "select last_seq_id from ledger.mt_event_progression where name = 'raced:All'"));
        Assert.Equal(3, await CountAsync(dataSource, "select count(*) from ledger.projection_checkpoints"));
        Assert.Equal(0, await CountAsync(dataSource,
            "select count(*) from information_schema.columns where table_schema = 'ledger' and table_name = 'projection_checkpoints' and column_name = 'position'"));
        Assert.Equal(0, await CountAsync(dataSource, "select count(*) from information_schema.tables where table_schema = 'ledger' and table_name = 'projection_nodes'"));
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
