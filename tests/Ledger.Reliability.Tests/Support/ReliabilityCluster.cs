using System.Security.Cryptography;
using Ledger.Testing;
using Npgsql;

namespace Ledger.Reliability.Tests.Support;

/// <summary>
/// A PostgreSQL server of the test's own in a container (so it can be crashed without touching anyone else's), with the
/// database <c>ledger</c>, a migration role that owns it and a service role that the service processes connect as
/// (docs/operations.md, "Database roles"). The roles have passwords, which the server checks (SCRAM over TCP) and the
/// security tests look for in the services' logs.
/// </summary>
internal sealed class ReliabilityCluster : IAsyncDisposable
{
    public const string Database = "ledger";
    public const string MigrationRole = "ledger_owner";
    public const string ServiceRole = "ledger_app";

    private ReliabilityCluster(PostgresContainer server)
    {
        Server = server;
        OwnerPassword = Secret();
        ServicePassword = Secret();
        Superuser = NpgsqlDataSource.Create(new NpgsqlConnectionStringBuilder(Server.ConnectionString(Database))
        {
            // Checks run across server restarts; a fresh connection each time never meets a stale one.
            Pooling = false,
            IncludeErrorDetail = true,
        }.ConnectionString);
    }

    public PostgresContainer Server { get; }

    /// <summary>The superuser, on the ledger database, for the suite's own checks (never what the service uses).</summary>
    public NpgsqlDataSource Superuser { get; }

    public string OwnerPassword { get; }
    public string ServicePassword { get; }

    /// <summary>What the service connects as: over TCP, as <see cref="ServiceRole"/>.</summary>
    public string ServiceConnectionString => As(ServiceRole, ServicePassword);

    /// <summary>What the service migrates as.</summary>
    public string MigrationsConnectionString => As(MigrationRole, OwnerPassword);

    public static async Task<ReliabilityCluster> StartAsync(CancellationToken cancellationToken)
    {
        var cluster = new ReliabilityCluster(await PostgresContainer.StartAsync(cancellationToken));
        try
        {
            await using var server = NpgsqlDataSource.Create(new NpgsqlConnectionStringBuilder(cluster.Server.ConnectionString()) { Pooling = false }.ConnectionString);
            // Role names and passwords cannot be parameters; both are ours (constants, and hex from the random generator).
            foreach (var sql in new[]
            {
                $"create role {MigrationRole} login password '{cluster.OwnerPassword}'",
                $"create role {ServiceRole} login password '{cluster.ServicePassword}'",
                $"grant {ServiceRole} to {MigrationRole}",
                $"create database {Database} owner {MigrationRole}",
            })
            {
                await using var command = server.CreateCommand(sql);
                await command.ExecuteNonQueryAsync(cancellationToken);
            }

            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
    }

    /// <summary>Stops the server abruptly (PostgreSQL's immediate shutdown: no checkpoint, sessions cut), as a crash would.</summary>
    public Task CrashAsync(CancellationToken cancellationToken) => Server.CrashAsync(cancellationToken);

    /// <summary>Starts the server again (crash recovery, same port) and returns once it accepts connections.</summary>
    public Task RestartAsync(CancellationToken cancellationToken) => Server.RestartAsync(cancellationToken);

    public async ValueTask DisposeAsync()
    {
        await Superuser.DisposeAsync();
        await Server.DisposeAsync();
    }

    private string As(string role, string password) => new NpgsqlConnectionStringBuilder
    {
        Host = Server.Host,
        Port = Server.Port,
        Database = Database,
        Username = role,
        Password = password,
    }.ConnectionString;

    private static string Secret() => "pw" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
}
