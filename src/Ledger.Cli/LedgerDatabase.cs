using System.CommandLine;
using Ledger.Api.ServiceDefaults;
using Ledger.EventStore;
using Ledger.EventStore.Schema;
using Ledger.LocalPostgres;
using Npgsql;

namespace Ledger.Cli;

/// <summary>
/// Where the ledger's data lives: the server named by <c>ConnectionStrings__Ledger</c> (migrated with
/// <c>ConnectionStrings__LedgerMigrations</c> when set), or else the embedded default, a local PostgreSQL cluster kept under
/// a data directory that this process starts and stops, with a migration role <c>ledger_owner</c> and a service role
/// <c>ledger_app</c> (docs/operations.md, "Database roles").
/// </summary>
internal sealed class LedgerDatabase : IAsyncDisposable
{
    public const string ConnectionStringVariable = "ConnectionStrings__Ledger";
    public const string MigrationsConnectionStringVariable = "ConnectionStrings__LedgerMigrations";
    public const string ServiceRole = "ledger_app";
    public const string MigrationRole = "ledger_owner";
    private const string DatabaseName = "ledger";

    private readonly LocalPostgresCluster? _cluster;

    private LedgerDatabase(string connectionString, string? migrationsConnectionString, LocalPostgresCluster? cluster, bool created = false) =>
        (ConnectionString, MigrationsConnectionString, _cluster, Created) = (connectionString, migrationsConnectionString, cluster, created);

    /// <summary>The service role's connection string: what the service, and the commands acting like it, use.</summary>
    public string ConnectionString { get; }

    /// <summary>The migration role's connection string; null when the service role migrates too.</summary>
    public string? MigrationsConnectionString { get; }

    /// <summary>The option every command that opens the database takes.</summary>
    public static Option<string> DataDirectoryOption() => new("--data-dir")
    {
        Description = "Where the embedded PostgreSQL keeps its data (ignored when ConnectionStrings__Ledger is set).",
        DefaultValueFactory = _ => ".ledger",
    };

    public bool IsEmbedded => _cluster is not null;

    /// <summary>Whether this open created the embedded cluster (initdb): its ledger then holds no events yet.</summary>
    public bool Created { get; }

    /// <summary>
    /// Opens the ledger's database. <paramref name="owner"/> (ledger run) starts the embedded cluster and stops it at the
    /// end, restarting one that a killed run left behind; the other commands attach to a running one (the service's) and
    /// leave it running, and start it only for their own duration when none runs.
    /// </summary>
    public static async Task<LedgerDatabase> OpenAsync(string dataDirectory, CancellationToken cancellationToken, bool owner = false)
    {
        var configured = Environment.GetEnvironmentVariable(ConnectionStringVariable);
        if (!string.IsNullOrWhiteSpace(configured))
        {
            var migrations = Environment.GetEnvironmentVariable(MigrationsConnectionStringVariable);
            return new LedgerDatabase(configured, string.IsNullOrWhiteSpace(migrations) ? null : migrations, null);
        }

        var cluster = new LocalPostgresCluster(new LocalPostgresOptions
        {
            DataDirectory = Path.GetFullPath(Path.Combine(dataDirectory, "pgdata")),
        });
        var attached = !owner && cluster.TryAttach();
        var created = false;
        if (!attached)
        {
            if (await cluster.InitIfNeededAsync(cancellationToken))
            {
                created = true;
                Console.WriteLine($"Created a local PostgreSQL cluster in {cluster.DataDirectory}");
            }

            await cluster.StartAsync(cancellationToken);
        }

        await PrepareEmbeddedAsync(cluster, cancellationToken);
        return new LedgerDatabase(
            As(cluster, ServiceRole), As(cluster, MigrationRole), attached ? null : cluster, created);
    }

    public async Task<IReadOnlyList<Migration>> MigrateAsync(CancellationToken cancellationToken)
    {
        await using var dataSource = EventStoreDataSource.Create(ConnectionString, "ledger-cli");
        return await DatabaseRoles.MigrateAsync(dataSource, MigrationsConnectionString, cancellationToken);
    }

    /// <summary>As the cluster's superuser: the ledger database and the two roles (Sql/embedded_roles.sql).</summary>
    private static async Task PrepareEmbeddedAsync(LocalPostgresCluster cluster, CancellationToken cancellationToken)
    {
        await using (var server = NpgsqlDataSource.Create(cluster.ConnectionString()))
        {
            await using var exists = server.CreateCommand("select 1 from pg_database where datname = @name");
            exists.Parameters.AddWithValue("name", DatabaseName);
            if (await exists.ExecuteScalarAsync(cancellationToken) is null)
            {
                // A database name cannot be a parameter; this one is a constant.
                await using var create = server.CreateCommand($"create database {DatabaseName}");
                await create.ExecuteNonQueryAsync(cancellationToken);
            }
        }

        await using var ledger = NpgsqlDataSource.Create(cluster.ConnectionString(DatabaseName));
        await using var roles = ledger.CreateCommand(EmbeddedRoles);
        await roles.ExecuteNonQueryAsync(cancellationToken);
    }

    private static string As(LocalPostgresCluster cluster, string role) =>
        new NpgsqlConnectionStringBuilder(cluster.ConnectionString(DatabaseName)) { Username = role }.ConnectionString;

    private static readonly string EmbeddedRoles = SqlResources.Read(typeof(LedgerDatabase).Assembly, "embedded_roles.sql");

    public async ValueTask DisposeAsync()
    {
        if (_cluster is { IsRunning: true }) await _cluster.StopAsync(PostgresStopMode.Fast, CancellationToken.None);
    }
}
