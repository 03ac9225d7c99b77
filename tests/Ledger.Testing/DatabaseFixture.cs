using Npgsql;

namespace Ledger.Testing;

/// <summary>
/// A database of the test class's own on the shared <see cref="PostgresServer"/>, created before the class's first test and
/// dropped after its last. Use it with <c>IClassFixture&lt;DatabaseFixture&gt;</c>; classes run in parallel, each on its own database.
/// </summary>
public sealed class DatabaseFixture : IAsyncLifetime
{
    readonly List<TestDatabase> extraDatabases = [];
    readonly Lock gate = new();
    PostgresServer? server;
    TestDatabase? database;

    /// <summary>The shared server the database is on.</summary>
    public PostgresServer Server => server ?? throw NotInitialized();

    /// <summary>The database's name, unique on the server.</summary>
    public string Name => Database.Name;

    /// <summary>A connection string for the class's database, as the superuser, with error details included.</summary>
    public string ConnectionString => Database.ConnectionString;

    TestDatabase Database => database ?? throw NotInitialized();

    /// <summary>
    /// Builds a data source for the class's database. Each call is a pool of its own, as a separate node would have. The
    /// fixture disposes them.
    /// </summary>
    /// <param name="configure">Adjusts the builder, e.g. its connection string or type mappings, before it is built.</param>
    /// <returns>A new data source.</returns>
    public NpgsqlDataSource CreateDataSource(Action<NpgsqlDataSourceBuilder>? configure = null) => Database.CreateDataSource(configure);

    /// <summary>
    /// Creates a further empty database for a test that needs one to itself. Dispose it when done (<c>await using</c>);
    /// whatever is left is dropped with the fixture.
    /// </summary>
    /// <param name="cancellationToken">Cancels the creation.</param>
    /// <returns>The new database.</returns>
    public async Task<TestDatabase> CreateDatabaseAsync(CancellationToken cancellationToken = default)
    {
        var created = await Server.CreateDatabaseAsync(ClassName(), cancellationToken);
        lock (gate)
        {
            extraDatabases.Add(created);
        }

        return created;
    }

    /// <summary>Gets the shared server (starting it if need be) and creates the class's database.</summary>
    /// <returns>A task that completes once the database exists.</returns>
    public async ValueTask InitializeAsync()
    {
        var cancellationToken = TestContext.Current.CancellationToken;
        server = await PostgresServer.GetAsync(cancellationToken);
        database = await server.CreateDatabaseAsync(ClassName(), cancellationToken);
    }

    /// <summary>Drops the class's database and any created with <see cref="CreateDatabaseAsync"/>, ending open connections.</summary>
    /// <returns>A task that completes once the databases are gone.</returns>
    public async ValueTask DisposeAsync()
    {
        TestDatabase[] extras;
        lock (gate)
        {
            extras = [.. extraDatabases];
        }

        foreach (var extra in extras)
        {
            await extra.DisposeAsync();
        }

        if (database is not null)
        {
            await database.DisposeAsync();
        }
    }

    static string? ClassName() => TestContext.Current.TestClass?.TestClassSimpleName;

    static InvalidOperationException NotInitialized() =>
        new("The database fixture is not initialized: use it as IClassFixture<DatabaseFixture>, or await InitializeAsync() first.");
}
