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

    private static async Task ExecuteAsync(NpgsqlDataSource dataSource, string sql)
    {
        await using var command = dataSource.CreateCommand(sql);
        await command.ExecuteNonQueryAsync(Ct);
    }
}
