using System.CommandLine;
using Ledger.Api.ServiceDefaults;
using Ledger.EventStore;
using Ledger.EventStore.Schema;
using Ledger.LocalPostgres;
using Npgsql;

namespace Ledger.Cli;

/// <summary>
/// Where the ledger's data lives: the server named by <c>ConnectionStrings__Ledger</c>, or else the embedded default, a
/// local PostgreSQL cluster kept under a data directory that this process starts and stops.
/// </summary>
internal sealed class LedgerDatabase : IAsyncDisposable
{
    public const string ConnectionStringVariable = "ConnectionStrings__Ledger";
    private const string DatabaseName = "ledger";

    private readonly LocalPostgresCluster? _cluster;

    private LedgerDatabase(string connectionString, LocalPostgresCluster? cluster) =>
        (ConnectionString, _cluster) = (connectionString, cluster);

    public string ConnectionString { get; }

    /// <summary>The option every command that opens the database takes.</summary>
    public static Option<string> DataDirectoryOption() => new("--data-dir")
    {
        Description = "Where the embedded PostgreSQL keeps its data (ignored when ConnectionStrings__Ledger is set).",
        DefaultValueFactory = _ => ".ledger",
    };

    public bool IsEmbedded => _cluster is not null;

    /// <summary>
    /// Opens the ledger's database. <paramref name="owner"/> (ledger run) starts the embedded cluster and stops it at the
    /// end, restarting one that a killed run left behind; the other commands attach to a running one (the service's) and
    /// leave it running, and start it only for their own duration when none runs.
    /// </summary>
    public static async Task<LedgerDatabase> OpenAsync(string dataDirectory, CancellationToken cancellationToken, bool owner = false)
    {
        var configured = Environment.GetEnvironmentVariable(ConnectionStringVariable);
        if (!string.IsNullOrWhiteSpace(configured)) return new LedgerDatabase(configured, null);

        var cluster = new LocalPostgresCluster(new LocalPostgresOptions
        {
            DataDirectory = Path.GetFullPath(Path.Combine(dataDirectory, "pgdata")),
        });
        if (!owner && cluster.TryAttach()) return new LedgerDatabase(cluster.ConnectionString(DatabaseName), null);
        if (await cluster.InitIfNeededAsync(cancellationToken))
        {
            Console.WriteLine($"Created a local PostgreSQL cluster in {cluster.DataDirectory}");
        }

        await cluster.StartAsync(cancellationToken);
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

        return new LedgerDatabase(cluster.ConnectionString(DatabaseName), cluster);
    }

    public async Task<IReadOnlyList<Migration>> MigrateAsync(CancellationToken cancellationToken)
    {
        await using var dataSource = EventStoreDataSource.Create(ConnectionString, "ledger-cli");
        return await new Migrator(dataSource).MigrateAsync(ServiceDefaultsExtensions.Migrations, cancellationToken);
    }

    public async ValueTask DisposeAsync()
    {
        if (_cluster is { IsRunning: true }) await _cluster.StopAsync(PostgresStopMode.Fast, CancellationToken.None);
    }
}
