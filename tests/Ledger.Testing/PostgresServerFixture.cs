namespace Ledger.Testing;

/// <summary>
/// The assembly fixture that starts the shared <see cref="PostgresServer"/> before the first test and removes it after the last,
/// whether tests passed or not. Declare it once in each test assembly that uses the database:
/// <c>[assembly: AssemblyFixture(typeof(PostgresServerFixture))]</c>. Should the process exit without it, a ProcessExit handler
/// removes the container, and if the process is killed outright, the next run sweeps it.
/// </summary>
public sealed class PostgresServerFixture : IAsyncLifetime
{
    PostgresServer? server;

    /// <summary>The shared server.</summary>
    public PostgresServer Server => server ?? throw new InvalidOperationException("The PostgreSQL server fixture is not initialized.");

    /// <summary>Starts the shared server, so that a server that cannot start fails the run once, before any test.</summary>
    /// <returns>A task that completes once the server accepts connections.</returns>
    public async ValueTask InitializeAsync() => server = await PostgresServer.GetAsync(TestContext.Current.CancellationToken);

    /// <summary>Removes the shared server's container.</summary>
    /// <returns>A task that completes once the server is gone.</returns>
    public async ValueTask DisposeAsync() => await PostgresServer.ShutdownAsync();
}
