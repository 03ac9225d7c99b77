using Ledger.LocalPostgres;
using Npgsql;

namespace Ledger.Testing;

/// <summary>
/// The PostgreSQL server a test process shares: a <see cref="TemporaryCluster"/> started on first use, or the server named
/// by the LEDGER_TEST_DATABASE environment variable (a connection string for a user allowed to create databases).
/// Test classes get databases of their own on it through <see cref="DatabaseFixture"/>.
/// </summary>
public sealed class PostgresServer
{
    /// <summary>The environment variable that points the tests at an existing server instead of a temporary cluster.</summary>
    public const string ExternalServerVariable = "LEDGER_TEST_DATABASE";

    static readonly Lock Gate = new();
    static Task<PostgresServer>? shared;

    readonly TemporaryCluster? temporary;

    PostgresServer(string superuserConnectionString, TemporaryCluster? temporary)
    {
        SuperuserConnectionString = superuserConnectionString;
        this.temporary = temporary;
    }

    /// <summary>
    /// The cluster when the tests started it, for tests that stop and restart the server; null when the tests run against
    /// LEDGER_TEST_DATABASE. Every class in the process shares this server: a test that stops it must not run in parallel
    /// with others (put it in a collection with DisableParallelization), or should start a <see cref="TemporaryCluster"/> of its own.
    /// </summary>
    public LocalPostgresCluster? Cluster => temporary?.Cluster;

    /// <summary>A connection string for a user who may create and drop databases, to the server's maintenance database.</summary>
    public string SuperuserConnectionString { get; }

    /// <summary>
    /// Gets the shared server, starting it on the first call. The start is shared too: if it fails, every caller gets the
    /// same exception, e.g. <see cref="PostgresNotInstalledException"/>.
    /// </summary>
    /// <param name="cancellationToken">Cancels this caller's wait, not the shared start.</param>
    /// <returns>The running server.</returns>
    public static Task<PostgresServer> GetAsync(CancellationToken cancellationToken = default)
    {
        Task<PostgresServer> server;
        lock (Gate)
        {
            server = shared ??= Task.Run(StartAsync);
        }

        return server.WaitAsync(cancellationToken);
    }

    /// <summary>A connection string for the given database on this server, as the superuser, with error details included.</summary>
    /// <param name="database">The database to connect to.</param>
    /// <returns>A connection string for Npgsql.</returns>
    public string ConnectionString(string database) =>
        new NpgsqlConnectionStringBuilder(SuperuserConnectionString) { Database = database, IncludeErrorDetail = true }.ConnectionString;

    /// <summary>Creates an empty database with a unique name; disposing the result drops it.</summary>
    /// <param name="nameHint">A word to put in the name (e.g. the test class) so a person can tell the databases apart.</param>
    /// <param name="cancellationToken">Cancels the creation.</param>
    /// <returns>The new database.</returns>
    public async Task<TestDatabase> CreateDatabaseAsync(string? nameHint = null, CancellationToken cancellationToken = default)
    {
        var name = UniqueDatabaseName(nameHint);
        // Identifiers cannot be parameters; the name is ours and made only of [a-z0-9_]. template0, because CREATE DATABASE
        // fails while anyone is connected to its template, and on a shared LEDGER_TEST_DATABASE someone may be on template1.
        await ExecuteAsSuperuserAsync($"CREATE DATABASE \"{name}\" TEMPLATE template0", cancellationToken);
        return new TestDatabase(this, name, ConnectionString(name));
    }

    /// <summary>Stops the shared server if it was started (the assembly fixture calls this after the last test).</summary>
    internal static async Task ShutdownAsync()
    {
        Task<PostgresServer>? server;
        lock (Gate)
        {
            server = shared;
            shared = null;
        }

        if (server is null)
        {
            return;
        }

        // A start still under way is awaited so that its cluster is removed, not leaked; one that failed cleaned up after itself.
        await ((Task)server).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        if (server.IsCompletedSuccessfully && server.Result.temporary is { } temporary)
        {
            await temporary.DisposeAsync();
        }
    }

    internal Task DropDatabaseAsync(string name, CancellationToken cancellationToken) =>
        ExecuteAsSuperuserAsync($"DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)", cancellationToken);

    static async Task<PostgresServer> StartAsync()
    {
        var external = Environment.GetEnvironmentVariable(ExternalServerVariable);
        if (!string.IsNullOrWhiteSpace(external))
        {
            return new PostgresServer(external, temporary: null);
        }

        var temporary = await TemporaryCluster.StartAsync();
        return new PostgresServer(temporary.Cluster.ConnectionString(), temporary);
    }

    async Task ExecuteAsSuperuserAsync(string sql, CancellationToken cancellationToken)
    {
        // Unpooled: a pooled connection would outlive a crash test's restart of the server and fail the next statement.
        var connectionString = new NpgsqlConnectionStringBuilder(SuperuserConnectionString) { Pooling = false }.ConnectionString;
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(cancellationToken);
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    static string UniqueDatabaseName(string? nameHint)
    {
        const int maxHintLength = 40;
        var hint = new string((nameHint ?? "").ToLowerInvariant().Select(c => char.IsAsciiLetterOrDigit(c) ? c : '_').ToArray());
        hint = hint.Length > maxHintLength ? hint[..maxHintLength] : hint;
        var unique = Guid.NewGuid().ToString("N")[..10];
        return hint.Length == 0 ? $"test_{unique}" : $"test_{hint}_{unique}";
    }
}
