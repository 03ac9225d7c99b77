using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Docker.DotNet.Models;
using DotNet.Testcontainers.Configurations;

namespace Ledger.Testing;

/// <summary>
/// The bookkeeping every container the tests start shares (<see cref="PostgresContainer"/>, <see cref="RabbitMqBroker"/>):
/// a label naming the test process that owns it, removal of the live ones when the process exits or is sent SIGTERM or
/// SIGHUP, and a sweep of the ones whose process died. Testcontainers' own reaper would do this, but its image cannot be
/// pulled everywhere.
/// </summary>
internal static class OwnedContainers
{
    /// <summary>The label that ties a container to the test process that started it, for the sweep.</summary>
    public const string OwnerLabel = "org.ledger.test-run";

    static readonly ConcurrentDictionary<IAsyncDisposable, byte> Live = new();
    static readonly Lazy<Task> FirstSweep = new(() => Task.Run(() => SweepAbandonedAsync(CancellationToken.None)));

    // Kept so that the handlers stay registered for the life of the process.
    static readonly PosixSignalRegistration[] TerminationHandlers;

    static OwnedContainers()
    {
        AppDomain.CurrentDomain.ProcessExit += (_, _) => RemoveAllLive();
        // The runtime does not raise ProcessExit for a process ended by a signal: a test run sent SIGTERM (as a CI timeout
        // does) would leave its containers running. After these handlers the signal goes on to end the process as before.
        TerminationHandlers =
        [
            PosixSignalRegistration.Create(PosixSignal.SIGTERM, _ => RemoveAllLive()),
            PosixSignalRegistration.Create(PosixSignal.SIGHUP, _ => RemoveAllLive()),
        ];
    }

    /// <summary>Waits for the sweep that the first container of this process runs before it starts.</summary>
    public static Task FirstSweepAsync(CancellationToken cancellationToken) => FirstSweep.Value.WaitAsync(cancellationToken);

    /// <summary>Registers a container to be removed when the process exits.</summary>
    public static void Track(IAsyncDisposable container) => Live.TryAdd(container, 0);

    /// <summary>Takes a container off that list; false when it was not on it (already disposed).</summary>
    public static bool Untrack(IAsyncDisposable container) => Live.TryRemove(container, out _);

    /// <summary>
    /// How old an abandoned container must be for the sweep to remove it. The sweep tests start containers labelled as
    /// a dead run's on purpose; another test process's first sweep (every worktree's runs share the engine) would
    /// otherwise remove them while they start. A run that really died leaves its containers to a later run's sweep.
    /// </summary>
    public static readonly TimeSpan SweepGrace = TimeSpan.FromMinutes(2);

    /// <summary>Removes the containers whose test process is gone (killed, crashed, or stopped in a debugger).</summary>
    /// <param name="cancellationToken">Cancels the sweep.</param>
    /// <returns>How many containers were removed.</returns>
    public static Task<int> SweepAbandonedAsync(CancellationToken cancellationToken) => SweepAbandonedAsync(SweepGrace, cancellationToken);

    /// <summary>Removes the containers whose test process is gone and that were created at least <paramref name="olderThan"/> ago.</summary>
    /// <param name="olderThan">The youngest abandoned container to remove.</param>
    /// <param name="cancellationToken">Cancels the sweep.</param>
    /// <returns>How many containers were removed.</returns>
    public static async Task<int> SweepAbandonedAsync(TimeSpan olderThan, CancellationToken cancellationToken)
    {
        using var client = DockerClient();
        var containers = await client.Containers.ListContainersAsync(
            new ContainersListParameters
            {
                All = true,
                Filters = new Dictionary<string, IDictionary<string, bool>> { ["label"] = new Dictionary<string, bool> { [OwnerLabel] = true } },
            },
            cancellationToken);
        var swept = 0;
        // A container being removed at this moment may be listed without its labels.
        var createdBefore = DateTime.UtcNow - olderThan;
        foreach (var abandoned in containers.Where(c => c.Labels?.TryGetValue(OwnerLabel, out var label) == true
            && (TestRunOwner.Parse(label) is not { } owner || !owner.IsAlive())
            && c.Created.ToUniversalTime() <= createdBefore))
        {
            try
            {
                await client.Containers.RemoveContainerAsync(abandoned.ID, new ContainerRemoveParameters { Force = true, RemoveVolumes = true }, cancellationToken);
                swept++;
            }
            catch (Docker.DotNet.DockerContainerNotFoundException)
            {
                // Another test process's sweep removed it at the same moment.
            }
        }

        return swept;
    }

    /// <summary>Whether Docker still has a container with this id, running or not.</summary>
    public static async Task<bool> ExistsAsync(string id, CancellationToken cancellationToken)
    {
        using var client = DockerClient();
        try
        {
            await client.Containers.InspectContainerAsync(id, cancellationToken);
            return true;
        }
        catch (Docker.DotNet.DockerContainerNotFoundException)
        {
            return false;
        }
    }

    /// <summary>A client of the Docker engine Testcontainers uses, for what Testcontainers does not do (list, kill).</summary>
    public static Docker.DotNet.DockerClient DockerClient() =>
        TestcontainersSettings.OS.DockerEndpointAuthConfig.GetDockerClientBuilder(Guid.Empty).Build();

    /// <summary>
    /// A host port free at this moment. The containers bind a fixed host port rather than Docker's pick: Docker picks anew
    /// at every start, and a restarted server must be where the services under test were told it is. Another process may
    /// take the port before Docker binds it: <see cref="IsPortTaken"/> tells a start to try again on a fresh one.
    /// </summary>
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>Whether a container failed to start because its host port was taken meanwhile.</summary>
    public static bool IsPortTaken(Exception e) =>
        e.ToString().Contains("address already in use", StringComparison.OrdinalIgnoreCase)
        || e.ToString().Contains("port is already allocated", StringComparison.OrdinalIgnoreCase);

    static void RemoveAllLive()
    {
        foreach (var live in Live.Keys)
        {
            try
            {
                // ProcessExit has no async context to return to, and nothing after it would run the cleanup.
                live.DisposeAsync().AsTask().GetAwaiter().GetResult();
            }
#pragma warning disable CA1031 // An exception escaping ProcessExit would hide the test results; the next run's sweep retries.
            catch (Exception)
#pragma warning restore CA1031
            {
            }
        }
    }
}
