using Npgsql;

namespace Ledger.Testing;

/// <summary>An empty database of its own on the shared <see cref="PostgresServer"/>; disposing it drops it.</summary>
public sealed class TestDatabase : IAsyncDisposable
{
    readonly PostgresServer server;
    readonly List<NpgsqlDataSource> dataSources = [];
    readonly Lock gate = new();
    bool disposed;

    internal TestDatabase(PostgresServer server, string name, string connectionString)
    {
        this.server = server;
        Name = name;
        ConnectionString = connectionString;
    }

    /// <summary>The database's name, unique on the server.</summary>
    public string Name { get; }

    /// <summary>A connection string for this database, as the superuser, with error details included.</summary>
    public string ConnectionString { get; }

    /// <summary>
    /// Builds a data source for this database. Each call is a pool of its own, as a separate node would have. The data
    /// sources are disposed with the database.
    /// </summary>
    /// <param name="configure">Adjusts the builder, e.g. its connection string or type mappings, before it is built.</param>
    /// <returns>A new data source.</returns>
    public NpgsqlDataSource CreateDataSource(Action<NpgsqlDataSourceBuilder>? configure = null)
    {
        var builder = new NpgsqlDataSourceBuilder(ConnectionString);
        configure?.Invoke(builder);
        var dataSource = builder.Build();
        lock (gate)
        {
            if (disposed)
            {
                dataSource.Dispose();
                throw new ObjectDisposedException(Name, "The test database has been dropped.");
            }

            dataSources.Add(dataSource);
        }

        return dataSource;
    }

    /// <summary>Disposes the data sources and drops the database, ending any connection still open to it. Safe to call more than once.</summary>
    /// <returns>A task that completes once the database is gone.</returns>
    public async ValueTask DisposeAsync()
    {
        NpgsqlDataSource[] toDispose;
        lock (gate)
        {
            if (disposed)
            {
                return;
            }

            disposed = true;
            toDispose = [.. dataSources];
        }

        foreach (var dataSource in toDispose)
        {
            await dataSource.DisposeAsync();
        }

        // Connections a test opened with new NpgsqlConnection(ConnectionString) idle in Npgsql's global pool; FORCE ends them
        // on the server, and clearing the pool keeps them from being handed out broken.
        await using (var connection = new NpgsqlConnection(ConnectionString))
        {
            NpgsqlConnection.ClearPool(connection);
        }

        await server.DropDatabaseAsync(Name, CancellationToken.None);
    }
}
