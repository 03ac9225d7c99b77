using Ledger.EventStore;
using Ledger.EventStore.Schema;
using Ledger.Testing;
using Npgsql;

namespace Ledger.ReadModels.Tests;

/// <summary>A migration that gives a read model a new table fills it from what the read model already holds.</summary>
public sealed class UpgradeTests(DatabaseFixture database) : IClassFixture<DatabaseFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Upgrading_to_in_transit_counts_per_destination_counts_the_units_already_in_transit()
    {
        await using var dataSource = database.CreateDataSource();
        await new Migrator(dataSource).MigrateAsync([EventStoreSchema.Migrations], Ct);
        var migrations = ReadModelsSchema.Migrations.Load();
        // A ledger as it was before the counts existed, with its deployments already projected.
        foreach (var migration in migrations.Where(m => m.Version < 5)) await ExecuteAsync(dataSource, migration.Sql);
        await ExecuteAsync(dataSource, """
            insert into ledger.deployment_units (serial, nameplate_kwh, region, country, site, shipped_on, in_transit) values
                ('U1', 3916, 'Europe', 'DE', 'Bollingstedt', '2025-05-01', true),
                ('U2', 3916, 'Europe', 'DE', 'Bollingstedt', '2025-05-02', true),
                ('U3', 3916, 'Europe', 'DE', 'Bollingstedt', '2025-04-01', false),
                ('U4', 1958, 'Australia', 'AU', 'Collie Battery', '2025-05-03', true),
                ('U5', 3916, null, null, null, null, false)
            """);

        await ExecuteAsync(dataSource, migrations.Single(m => m.Version == 5).Sql);

        var bySite = await DeploymentsQuery.GetInTransitAsync(dataSource, DeploymentGrouping.Site, cancellationToken: Ct);
        Assert.Equal(
            [
                new InTransitRow("Australia", "AU", "Collie Battery", 1, 1.958m),
                new InTransitRow("Europe", "DE", "Bollingstedt", 2, 7.832m),
            ],
            bySite);
    }

    internal static async Task ExecuteAsync(NpgsqlDataSource dataSource, string sql)
    {
        await using var command = dataSource.CreateCommand(sql);
        await command.ExecuteNonQueryAsync(Ct);
    }
}

/// <summary>
/// A migration that replaces an index must find it on a ledger one of whose read models was rebuilt: the swap renames a
/// LIKE … INCLUDING ALL copy into place, and its indexes carry generated names, not the ones the migrations gave them.
/// </summary>
public sealed class UpgradeAfterRebuildTests(DatabaseFixture database) : IClassFixture<DatabaseFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Upgrades_that_replace_an_index_find_it_under_the_name_a_rebuild_gave_it()
    {
        await using var dataSource = database.CreateDataSource();
        await new Migrator(dataSource).MigrateAsync([EventStoreSchema.Migrations], Ct);
        var migrations = ReadModelsSchema.Migrations.Load();
        foreach (var migration in migrations.Where(m => m.Version < 5)) await UpgradeTests.ExecuteAsync(dataSource, migration.Sql);
        foreach (var table in new[] { "deployment_units", "milestone_shipments" })
        {
            // What projection_rebuild_swap_table.sql does to a rebuilt table.
            await UpgradeTests.ExecuteAsync(dataSource, $"""
                create table ledger.{table}__rebuild (like ledger.{table} including all);
                alter table ledger.{table} rename to {table}__old;
                alter table ledger.{table}__rebuild rename to {table};
                drop table ledger.{table}__old;
                """);
        }

        Assert.Contains(await IndexesAsync(dataSource), d => d.Contains("__rebuild_serial_idx", StringComparison.Ordinal));

        foreach (var migration in migrations.Where(m => m.Version is 5 or 6)) await UpgradeTests.ExecuteAsync(dataSource, migration.Sql);

        var indexes = await IndexesAsync(dataSource);
        Assert.DoesNotContain(indexes, d => d.EndsWith("WHERE in_transit", StringComparison.Ordinal));
        Assert.DoesNotContain(indexes, d => d.EndsWith("(serial) WHERE (NOT cancelled)", StringComparison.Ordinal));
        Assert.Contains(indexes, d => d.EndsWith("(serial, \"position\") WHERE (NOT cancelled)", StringComparison.Ordinal));
    }

    private static async Task<List<string>> IndexesAsync(NpgsqlDataSource dataSource)
    {
        await using var command = dataSource.CreateCommand(
            "select indexdef from pg_indexes where schemaname = 'ledger' and tablename in ('deployment_units', 'milestone_shipments')");
        var definitions = new List<string>();
        await using var reader = await command.ExecuteReaderAsync(Ct);
        while (await reader.ReadAsync(Ct)) definitions.Add(reader.GetString(0));
        return definitions;
    }
}

/// <summary>The deployments' monthly roll-up (migration 0007) starts from the daily rows a ledger already holds.</summary>
public sealed class UpgradeToMonthlyDeploymentsTests(DatabaseFixture database) : IClassFixture<DatabaseFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Upgrading_to_the_monthly_roll_up_sums_the_daily_deployments_already_projected_by_month()
    {
        await using var dataSource = database.CreateDataSource();
        await new Migrator(dataSource).MigrateAsync([EventStoreSchema.Migrations], Ct);
        var migrations = ReadModelsSchema.Migrations.Load();
        // A ledger as it was before the roll-up existed, with its deployments already projected.
        foreach (var migration in migrations.Where(m => m.Version < 7)) await UpgradeTests.ExecuteAsync(dataSource, migration.Sql);
        await UpgradeTests.ExecuteAsync(dataSource, """
            insert into ledger.deployment_daily (day, region, country, site, units_shipped, shipped_kwh, units_delivered,
                                                 delivered_kwh, units_commissioned, commissioned_kwh) values
                ('2025-04-03', 'Europe', 'DE', 'Bollingstedt', 2, 7832, 0, 0, 0, 0),
                ('2025-04-29', 'Europe', 'DE', 'Bollingstedt', -1, -3916, 1, 3916, 0, 0),
                ('2025-05-02', 'Europe', 'DE', 'Bollingstedt', 0, 0, 0, 0, 1, 3916),
                ('2025-04-10', 'Australia', 'AU', 'Collie Battery', 1, 1958, 0, 0, 0, 0)
            """);

        await UpgradeTests.ExecuteAsync(dataSource, migrations.Single(m => m.Version == 7).Sql);

        var rows = await DeploymentsQuery.GetAsync(dataSource, DeploymentGrouping.Site, CalendarBucket.Month,
            new DateOnly(2025, 4, 1), new DateOnly(2025, 5, 31), cancellationToken: Ct);
        Assert.Equal(
            [
                new DeploymentRow(new DateOnly(2025, 4, 1), "Australia", "AU", "Collie Battery", 1, 1.958m, 0, 0m, 0, 0m),
                new DeploymentRow(new DateOnly(2025, 4, 1), "Europe", "DE", "Bollingstedt", 1, 3.916m, 1, 3.916m, 0, 0m),
                new DeploymentRow(new DateOnly(2025, 5, 1), "Europe", "DE", "Bollingstedt", 0, 0m, 0, 0m, 1, 3.916m),
            ],
            rows);
        await using var count = dataSource.CreateCommand("select count(*) from ledger.deployment_monthly");
        Assert.Equal(3L, (long)(await count.ExecuteScalarAsync(Ct))!);
    }
}
