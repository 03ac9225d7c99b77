using Npgsql;
using Testcontainers.PostgreSql;

namespace Ledger.Testing;

/// <summary>
/// A throwaway PostgreSQL server in a container started with Testcontainers, tuned for tests. The image is
/// <c>postgres:15</c> unless LEDGER_TEST_POSTGRES_IMAGE names another (<c>tests/run</c> builds
/// <c>ledger-local/postgres:15</c> from Debian's packages where no registry is reachable). Disposing it removes the
/// container; if the test process dies first, the next test run that starts a container sweeps it away.
/// </summary>
/// <remarks>
/// The shared <see cref="PostgresServer"/> runs in one of these. Start one of your own for a test that crashes, restarts
/// or reconfigures its server, so that the classes running beside it keep theirs. The host port stays the same across
/// <see cref="CrashAsync"/> and <see cref="RestartAsync"/>, so services configured with it reconnect as they would to
/// a restarted production server.
/// </remarks>
public sealed class PostgresContainer : IAsyncDisposable
{
    /// <summary>The environment variable naming the image (default <see cref="DefaultImage"/>).</summary>
    public const string ImageVariable = "LEDGER_TEST_POSTGRES_IMAGE";

    /// <summary>The official image, used wherever a registry serves it.</summary>
    public const string DefaultImage = "postgres:15";

    /// <summary>The superuser the container is created with.</summary>
    public const string Superuser = "postgres";

    const int ServerPort = 5432;

    /// <summary>
    /// Test settings, after the ones Testcontainers' PostgreSQL module passes (the last of a name wins). fsync and
    /// full_page_writes only guard against the machine losing power, which a throwaway server does not survive anyway.
    /// synchronous_commit goes back on (the module turns it off): with fsync off it costs a write() per commit, whereas
    /// off it lets an immediate shutdown lose acknowledged commits, and the crash tests would then blame the ledger.
    /// </summary>
    static readonly string[] TestSettings =
    [
        "-c", "fsync=off",
        "-c", "full_page_writes=off",
        "-c", "synchronous_commit=on",
        "-c", "max_connections=400",
    ];

    readonly PostgreSqlContainer container;
    readonly string password;

    PostgresContainer(PostgreSqlContainer container, string password, int port)
    {
        this.container = container;
        this.password = password;
        Port = port;
    }

    /// <summary>The image the containers run.</summary>
    public static string Image =>
        Environment.GetEnvironmentVariable(ImageVariable) is { Length: > 0 } image ? image : DefaultImage;

    /// <summary>The host the server is reached at (the Docker host as Testcontainers sees it).</summary>
    public string Host => container.Hostname;

    /// <summary>The host port the server is reached at; the same across crashes and restarts.</summary>
    public int Port { get; }

    /// <summary>The container's id (for <c>docker logs</c> when a test fails).</summary>
    public string Id => container.Id;

    /// <summary>
    /// Starts a new container and waits until the server accepts connections, having first removed the containers of
    /// earlier test runs that died without removing their own.
    /// </summary>
    /// <param name="cancellationToken">Cancels the start.</param>
    /// <returns>The running server; dispose it to remove the container.</returns>
    public static Task<PostgresContainer> StartAsync(CancellationToken cancellationToken = default) =>
        StartAsync(TestRunOwner.Current, cancellationToken);

    /// <summary>Starts a container labelled as another test run's (for the sweep's tests).</summary>
    internal static async Task<PostgresContainer> StartAsync(TestRunOwner owner, CancellationToken cancellationToken)
    {
        await OwnedContainers.FirstSweepAsync(cancellationToken);

        var password = Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(12));
        // A fixed host port, so that a restarted server is where the services under test were told it is.
        for (var attempt = 1; ; attempt++)
        {
            var port = OwnedContainers.FreePort();
            var container = new PostgreSqlBuilder(Image)
                .WithUsername(Superuser)
                .WithPassword(password)
                .WithDatabase("postgres")
                .WithPortBinding(port, ServerPort)
                .WithCommand(TestSettings)
                .WithLabel(OwnedContainers.OwnerLabel, owner.ToString())
                // The default 64 MB /dev/shm is too small for parallel queries of 400 connections.
                .WithCreateParameterModifier(parameters => parameters.HostConfig!.ShmSize = 256L * 1024 * 1024)
                .Build();
            var started = new PostgresContainer(container, password, port);
            OwnedContainers.Track(started);
            try
            {
                await container.StartAsync(cancellationToken);
                return started;
            }
            catch (Exception e) when (attempt < 3 && OwnedContainers.IsPortTaken(e))
            {
                await started.DisposeAsync();
            }
            catch (Exception e)
            {
                await started.DisposeAsync();
                throw new InvalidOperationException(
                    $"Could not start PostgreSQL from the image '{Image}' ({e.Message}). The tests need a Docker engine and the " +
                    $"image: run them with tests/run, which sets both up, or set {ImageVariable} to an image you have, or " +
                    $"{PostgresServer.ExternalServerVariable} to a server of your own.",
                    e);
            }
        }
    }

    /// <summary>A connection string for the given database on this server, as the superuser, with error details included.</summary>
    /// <param name="database">The database to connect to.</param>
    /// <returns>A connection string for Npgsql.</returns>
    public string ConnectionString(string database = "postgres") => new NpgsqlConnectionStringBuilder
    {
        Host = Host,
        Port = Port,
        Database = database,
        Username = Superuser,
        Password = password,
        IncludeErrorDetail = true,
    }.ConnectionString;

    /// <summary>
    /// Crashes the server: PostgreSQL's immediate shutdown (SIGQUIT to the postmaster, what <c>pg_ctl stop -m immediate</c>
    /// sends) ends every session at once without a checkpoint, and the container stops with it. The next start runs crash
    /// recovery from the WAL.
    /// </summary>
    /// <param name="cancellationToken">Cancels the wait for the container to stop.</param>
    /// <returns>A task that completes once the server is down.</returns>
    public async Task CrashAsync(CancellationToken cancellationToken = default)
    {
        // The postmaster is PID 1 in both the official image and ours.
        await container.ExecAsync(["sh", "-c", "kill -QUIT 1"], cancellationToken);
        await container.GetExitCodeAsync(cancellationToken);
    }

    /// <summary>Starts the server again (crash recovery, same port) and returns once it accepts connections.</summary>
    /// <param name="cancellationToken">Cancels the start.</param>
    /// <returns>A task that completes once the server accepts connections.</returns>
    public async Task RestartAsync(CancellationToken cancellationToken = default)
    {
        // Testcontainers starts a container only from its own idea of the state: tell it the server stopped.
        await container.StopAsync(cancellationToken);
        await container.StartAsync(cancellationToken);
    }

    /// <summary>Removes the container. Safe to call more than once.</summary>
    /// <returns>A task that completes once the container is gone.</returns>
    public async ValueTask DisposeAsync()
    {
        if (OwnedContainers.Untrack(this))
        {
            await container.DisposeAsync();
        }
    }
}
