using Ledger.Api.Features;
using Ledger.EventStore;
using Ledger.EventStore.Schema;
using Ledger.Production.Factories;
using Ledger.ReadModels;
using Npgsql;

namespace Ledger.Api.ServiceDefaults;

/// <summary>
/// Two database roles (docs/operations.md, "Database roles"): the <b>migration role</b>
/// (<c>ConnectionStrings:LedgerMigrations</c>) owns the schema and applies migrations; the <b>service role</b>
/// (<c>ConnectionStrings:Ledger</c>) is what the running service connects as. After migrating, the migration role grants
/// the service role what it needs and no more: it may insert and read events but not UPDATE, DELETE or TRUNCATE them, so
/// a leaked service password cannot rewrite history even around the append-only trigger. Without a migration connection
/// string the service migrates with its own role, as before (the trigger still guards history).
/// </summary>
public static class DatabaseRoles
{
    /// <summary>The connection string (under <c>ConnectionStrings</c>) of the migration role.</summary>
    public const string MigrationsConnectionStringName = "LedgerMigrations";

    // Serializes the grants of nodes starting together: concurrent GRANTs on one object fail ("tuple concurrently updated").
    private const long GrantLockKey = 0x4c_45_44_47_45_52_02; // "LEDGER" + 2

    private static readonly string Grant = SqlResources.Read(typeof(DatabaseRoles).Assembly, "database_roles_grant.sql");

    /// <summary>
    /// The read models' tables: the service role owns them, because rebuilds replace them (create, rename, drop). Every
    /// other table stays the migration role's.
    /// </summary>
    public static IReadOnlyList<string> ReadModelTables { get; } =
        [UnitStatusProjection.Table, .. ProjectionCatalog.Create(InMemoryFactoryRegistry.Seeded).SelectMany(p => p.Tables)];

    /// <summary>
    /// Applies pending migrations as the migration role and grants the service role its privileges; with no migration
    /// connection string, migrates as the service role. Returns the migrations applied now.
    /// </summary>
    /// <param name="service">The service role's data source.</param>
    /// <param name="migrationsConnectionString">The migration role's connection string, or null.</param>
    /// <param name="cancellationToken">Cancels the work.</param>
    public static async Task<IReadOnlyList<Migration>> MigrateAsync(
        NpgsqlDataSource service, string? migrationsConnectionString, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(service);
        if (string.IsNullOrWhiteSpace(migrationsConnectionString))
        {
            return await new Migrator(service).MigrateAsync(ServiceDefaultsExtensions.Migrations, cancellationToken);
        }

        // Named, so Npgsql's metrics (public on /metrics) never carry the migration role's connection string.
        await using var owner = EventStoreDataSource.Create(migrationsConnectionString, "ledger-migrations",
            configure: dataSource => dataSource.Name = "ledger-migrations");
        var applied = await new Migrator(owner).MigrateAsync(ServiceDefaultsExtensions.Migrations, cancellationToken);
        var serviceRole = await CurrentUserAsync(service, cancellationToken);
        if (serviceRole != await CurrentUserAsync(owner, cancellationToken))
        {
            await GrantServiceRoleAsync(owner, serviceRole, cancellationToken);
        }

        return applied;
    }

    /// <summary>Grants <paramref name="serviceRole"/> its privileges, as the migration role (idempotent).</summary>
    public static async Task GrantServiceRoleAsync(NpgsqlDataSource owner, string serviceRole, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(owner);
        ArgumentException.ThrowIfNullOrWhiteSpace(serviceRole);
        await using var connection = await owner.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await using (var settings = new NpgsqlCommand(
            "select pg_advisory_xact_lock(@lock), set_config('ledger.service_role', @role, true), set_config('ledger.read_model_tables', @tables, true)",
            connection, transaction))
        {
            settings.Parameters.AddWithValue("lock", GrantLockKey);
            settings.Parameters.AddWithValue("role", serviceRole);
            settings.Parameters.AddWithValue("tables", string.Join(',', ReadModelTables));
            await settings.ExecuteNonQueryAsync(cancellationToken);
        }

        await using (var grant = new NpgsqlCommand(Grant, connection, transaction))
        {
            await grant.ExecuteNonQueryAsync(cancellationToken);
        }

        await transaction.CommitAsync(cancellationToken);
    }

    private static async Task<string> CurrentUserAsync(NpgsqlDataSource dataSource, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand("select current_user::text");
        return (string)(await command.ExecuteScalarAsync(cancellationToken))!;
    }
}
