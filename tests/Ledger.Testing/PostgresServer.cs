using Npgsql;

namespace Ledger.Testing;

/// <summary>
/// The PostgreSQL server a test process shares: a <see cref="PostgresContainer"/> started on first use, or the server named
/// by the LEDGER_TEST_DATABASE environment variable (a connection string for a user allowed to create databases).
/// Test classes get databases of their own on it through <see cref="DatabaseFixture"/>.
/// </summary>
public sealed class PostgresServer
{
    /// <summary>The environment variable that points the tests at an existing server instead of a container.</summary>
    public const string ExternalServerVariable = "LEDGER_TEST_DATABASE";

    static readonly Lock Gate = new();
    static Task<PostgresServer>? shared;

    PostgresServer(string superuserConnectionString, PostgresContainer? container)
    {
        SuperuserConnectionString = superuserConnectionString;
        Container = container;
    }

    /// <summary>
    /// The container when the tests started it; null when the tests run against LEDGER_TEST_DATABASE. Every class in the
    /// process shares this server: a test that crashes or restarts a server starts a <see cref="PostgresContainer"/> of its own.
    /// </summary>
    public PostgresContainer? Container { get; }

    /// <summary>A connection string for a user who may create and drop databases, to the server's maintenance database.</summary>
    public string SuperuserConnectionString { get; }

    /// <summary>
    /// Gets the shared server, starting it on the first call. The start is shared too: if it fails, every caller gets the
    /// same exception, e.g. one saying that no Docker engine answers.
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
        // Locale C whatever the server's default (the official image's is en_US.utf8, ours C.UTF-8), so that text sorts
        // the same wherever the tests run.
        await ExecuteAsSuperuserAsync($"CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8' LOCALE 'C'", cancellationToken);
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

        // A start still under way is awaited so that its container is removed, not leaked; one that failed cleaned up after itself.
        await ((Task)server).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        if (server.IsCompletedSuccessfully && server.Result.Container is { } container)
        {
            await container.DisposeAsync();
        }
    }

    internal Task DropDatabaseAsync(string name, CancellationToken cancellationToken) =>
        ExecuteAsSuperuserAsync($"DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)", cancellationToken);

    static async Task<PostgresServer> StartAsync()
    {
        var external = Environment.GetEnvironmentVariable(ExternalServerVariable);
        if (!string.IsNullOrWhiteSpace(external))
        {
            return new PostgresServer(external, container: null);
        }

        var container = await PostgresContainer.StartAsync();
        return new PostgresServer(container.ConnectionString(), container);
    }

    async Task ExecuteAsSuperuserAsync(string sql, CancellationToken cancellationToken)
    {
        // Unpooled: superuser statements are rare, and a pooled connection would outlive a server that went away.
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
