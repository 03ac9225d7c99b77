using Docker.DotNet.Models;
using DotNet.Testcontainers.Builders;
using DotNet.Testcontainers.Configurations;
using DotNet.Testcontainers.Containers;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;
using Testcontainers.RabbitMq;

namespace Ledger.Testing;

/// <summary>
/// A throwaway RabbitMQ broker in a container started with Testcontainers, for tests of what the ledger publishes and of
/// how it rides out a broker that goes away. The image is <c>rabbitmq:3</c> unless LEDGER_TEST_RABBITMQ_IMAGE names
/// another (<c>tests/run</c> builds <c>ledger-local/rabbitmq:3</c> from Debian's rabbitmq-server where no registry is
/// reachable). Disposing it removes the container and its data; if the test process dies first, the next test run that
/// starts a container sweeps it away.
/// </summary>
/// <remarks>
/// The broker keeps its host port and its data (durable queues, persistent messages, users) across
/// <see cref="StopAsync"/>, <see cref="KillAsync"/> and <see cref="StartAsync"/>, so a service given
/// <see cref="AmqpUri"/> reconnects as it would to a production broker that restarted. Use
/// <see cref="RabbitMqBrokerFixture"/> for a broker per test class (or per assembly), or <see cref="StartNewAsync(CancellationToken)"/>
/// for one of a test's own.
/// </remarks>
public sealed class RabbitMqBroker : IAsyncDisposable
{
    /// <summary>The environment variable naming the image (default <see cref="DefaultImage"/>).</summary>
    public const string ImageVariable = "LEDGER_TEST_RABBITMQ_IMAGE";

    /// <summary>The official image, used wherever a registry serves it.</summary>
    public const string DefaultImage = "rabbitmq:3";

    /// <summary>The user the broker is created with (an administrator of the default virtual host).</summary>
    public const string User = "ledger";

    const int AmqpPort = 5672;

    readonly RabbitMqContainer container;
    readonly string password;

    RabbitMqBroker(RabbitMqContainer container, string password, int port)
    {
        this.container = container;
        this.password = password;
        Port = port;
    }

    /// <summary>The image the containers run.</summary>
    public static string Image =>
        Environment.GetEnvironmentVariable(ImageVariable) is { Length: > 0 } image ? image : DefaultImage;

    /// <summary>The host the broker is reached at (the Docker host as Testcontainers sees it).</summary>
    public string Host => container.Hostname;

    /// <summary>The host port AMQP is reached at; the same across stops, kills and starts.</summary>
    public int Port { get; }

    /// <summary>Where to connect, credentials included: <c>amqp://ledger:PASSWORD@HOST:PORT/</c> (the default virtual host).</summary>
    public Uri AmqpUri => AmqpUriOf(Host, Port, password);

    /// <summary>The container's id (for <c>docker logs</c> when a test fails).</summary>
    public string Id => container.Id;

    /// <summary>
    /// Starts a new broker and waits until it accepts AMQP connections with its credentials, having first removed the
    /// containers of earlier test runs that died without removing their own.
    /// </summary>
    /// <param name="cancellationToken">Cancels the start.</param>
    /// <returns>The running broker; dispose it to remove the container.</returns>
    public static Task<RabbitMqBroker> StartNewAsync(CancellationToken cancellationToken = default) =>
        StartNewAsync(TestRunOwner.Current, cancellationToken);

    /// <summary>Starts a broker labelled as another test run's (for the sweep's tests).</summary>
    internal static async Task<RabbitMqBroker> StartNewAsync(TestRunOwner owner, CancellationToken cancellationToken)
    {
        await OwnedContainers.FirstSweepAsync(cancellationToken);

        var password = Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(12));
        // A fixed host port, so that a restarted broker is where the services under test were told it is.
        for (var attempt = 1; ; attempt++)
        {
            var port = OwnedContainers.FreePort();
            var container = new RabbitMqBuilder(Image)
                .WithUsername(User)
                .WithPassword(password)
                .WithPortBinding(port, AmqpPort)
                .WithLabel(OwnedContainers.OwnerLabel, owner.ToString())
                // After the module's own wait for "Server startup complete": that line is logged once the listeners are up,
                // but a restarted container's log may still hold the one of its previous run.
                .WithWaitStrategy(Wait.ForUnixContainer().AddCustomWaitStrategy(new AcceptsAmqp(port, password)))
                .Build();
            var started = new RabbitMqBroker(container, password, port);
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
                    $"Could not start RabbitMQ from the image '{Image}' ({e.Message}). The tests need a Docker engine and the " +
                    $"image: run them with tests/run, which sets both up, or set {ImageVariable} to an image you have.",
                    e);
            }
        }
    }

    /// <summary>
    /// Stops the broker gracefully (<c>docker stop</c>: SIGTERM, on which RabbitMQ closes its connections and flushes its
    /// queues) and returns once it is down. Clients see their connections closed by the broker.
    /// </summary>
    /// <param name="cancellationToken">Cancels the wait for the container to stop.</param>
    /// <returns>A task that completes once the broker is down.</returns>
    public Task StopAsync(CancellationToken cancellationToken = default) => container.StopAsync(cancellationToken);

    /// <summary>
    /// Kills the broker outright (SIGKILL to the container, as <c>kill -9</c>): no connection is closed, nothing is
    /// flushed; clients see their sockets drop. Persistent messages whose publishing was confirmed survive (RabbitMQ
    /// confirms them once they are on disk); the next start recovers the queues from what is on disk.
    /// </summary>
    /// <param name="cancellationToken">Cancels the kill.</param>
    /// <returns>A task that completes once the broker is down.</returns>
    public async Task KillAsync(CancellationToken cancellationToken = default)
    {
        using (var client = OwnedContainers.DockerClient())
        {
            await client.Containers.KillContainerAsync(Id, new ContainerKillParameters { Signal = "KILL" }, cancellationToken);
        }

        await container.GetExitCodeAsync(cancellationToken);
        // Testcontainers starts a container only from its own idea of the state: tell it the broker stopped (a no-op
        // for the engine, the container has exited).
        await container.StopAsync(cancellationToken);
    }

    /// <summary>
    /// Starts the stopped or killed broker again, on the same port with the same data, and returns once it accepts AMQP
    /// connections.
    /// </summary>
    /// <param name="cancellationToken">Cancels the start.</param>
    /// <returns>A task that completes once the broker accepts connections.</returns>
    public Task StartAsync(CancellationToken cancellationToken = default) => container.StartAsync(cancellationToken);

    /// <summary>Removes the container and its data. Safe to call more than once.</summary>
    /// <returns>A task that completes once the container is gone.</returns>
    public async ValueTask DisposeAsync()
    {
        if (OwnedContainers.Untrack(this))
        {
            await container.DisposeAsync();
        }
    }

    static Uri AmqpUriOf(string host, int port, string password) =>
        new UriBuilder("amqp", host, port, "/") { UserName = User, Password = password }.Uri;

    /// <summary>Ready means what a client needs: an AMQP connection opens and authenticates (the port alone opens earlier).</summary>
    sealed class AcceptsAmqp(int port, string password) : IWaitUntil
    {
        public async Task<bool> UntilAsync(IContainer container)
        {
            var factory = new ConnectionFactory
            {
                Uri = AmqpUriOf(container.Hostname, port, password),
                AutomaticRecoveryEnabled = false,
                RequestedConnectionTimeout = TimeSpan.FromSeconds(5),
            };
            try
            {
                await using var connection = await factory.CreateConnectionAsync();
                return true;
            }
            catch (BrokerUnreachableException)
            {
                return false;
            }
        }
    }
}
