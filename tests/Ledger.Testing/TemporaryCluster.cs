using System.Collections.Concurrent;
using System.Globalization;
using System.Runtime.InteropServices;
using Ledger.LocalPostgres;

namespace Ledger.Testing;

/// <summary>
/// A throwaway PostgreSQL cluster in a fresh temporary directory (/tmp/ledger-pg-&lt;pid&gt;-&lt;random&gt;), on a free port, tuned for
/// tests. Disposing it stops the server and deletes the directory; if the test process dies first, the next test run
/// that starts a cluster sweeps it away.
/// </summary>
/// <remarks>
/// The shared <see cref="PostgresServer"/> runs on one of these. Start one of your own for a test that stops, kills or
/// reconfigures its server, so that the classes running beside it keep theirs.
/// </remarks>
public sealed class TemporaryCluster : IAsyncDisposable
{
    const string DirectoryPrefix = "ledger-pg-";
    internal const string OwnerFileName = "owner";

    /// <summary>
    /// Test settings. fsync and full_page_writes only guard against the machine losing power, which a throwaway cluster
    /// does not survive anyway. synchronous_commit stays on: with fsync off it costs a write() per commit, whereas off
    /// it lets an immediate stop lose acknowledged commits, and the crash tests would then blame the store for it.
    /// </summary>
    static readonly Dictionary<string, string> TestSettings = new()
    {
        ["fsync"] = "off",
        ["full_page_writes"] = "off",
    };

    static readonly ConcurrentDictionary<TemporaryCluster, byte> Live = new();
    static readonly Lazy<Task> FirstSweep = new(() => Task.Run(() => SweepAbandonedAsync(PostgresInstallation.Find(), CancellationToken.None)));

    // Kept so that the handlers stay registered for the life of the process.
    static readonly PosixSignalRegistration[] TerminationHandlers;

    static TemporaryCluster()
    {
        AppDomain.CurrentDomain.ProcessExit += (_, _) => RemoveAllLive();
        // The runtime does not raise ProcessExit for a process ended by a signal: a test run sent SIGTERM (as a CI timeout
        // does) left its cluster running. After these handlers the signal goes on to end the process as before.
        TerminationHandlers =
        [
            PosixSignalRegistration.Create(PosixSignal.SIGTERM, _ => RemoveAllLive()),
            PosixSignalRegistration.Create(PosixSignal.SIGHUP, _ => RemoveAllLive()),
        ];
    }

    TemporaryCluster(string directory, LocalPostgresCluster cluster)
    {
        Directory = directory;
        Cluster = cluster;
    }

    /// <summary>The temporary directory holding the cluster's data directory (data/) and socket directory (run/).</summary>
    public string Directory { get; }

    /// <summary>The running cluster: stop it with <see cref="PostgresStopMode.Immediate"/> and start it again to simulate a crash.</summary>
    public LocalPostgresCluster Cluster { get; }

    /// <summary>
    /// Initializes and starts a new cluster, having first removed the clusters of earlier test runs that died without
    /// removing their own.
    /// </summary>
    /// <param name="cancellationToken">Cancels the start.</param>
    /// <returns>The running cluster; dispose it to stop it and delete its files.</returns>
    /// <exception cref="PostgresNotInstalledException">The PostgreSQL server binaries are not installed.</exception>
    public static Task<TemporaryCluster> StartAsync(CancellationToken cancellationToken = default) =>
        CreateAsync(start: true, cancellationToken);

    /// <summary>Makes the directory, and initializes and starts the cluster only when asked to.</summary>
    internal static async Task<TemporaryCluster> CreateAsync(bool start, CancellationToken cancellationToken)
    {
        var owner = TestRunOwner.Current;
        // Before anything is created, so that a machine without PostgreSQL gets the one message that says what to install.
        var installation = PostgresInstallation.Find();
        await FirstSweep.Value.WaitAsync(cancellationToken);

        var suffix = Guid.NewGuid().ToString("N")[..12];
        var directory = Path.Combine(Path.GetTempPath(), string.Create(CultureInfo.InvariantCulture, $"{DirectoryPrefix}{owner.Pid}-{suffix}"));
        System.IO.Directory.CreateDirectory(directory);
        await File.WriteAllTextAsync(Path.Combine(directory, OwnerFileName), owner.ToString(), cancellationToken);

        var cluster = new LocalPostgresCluster(new LocalPostgresOptions
        {
            DataDirectory = Path.Combine(directory, "data"),
            SocketDirectory = Path.Combine(directory, "run"),
            MaxConnections = 400,
            Settings = TestSettings,
            Installation = installation,
        });
        var temporary = new TemporaryCluster(directory, cluster);
        Live.TryAdd(temporary, 0);
        try
        {
            if (start)
            {
                await cluster.InitIfNeededAsync(cancellationToken);
                await cluster.StartAsync(cancellationToken);
            }

            return temporary;
        }
        catch
        {
            await temporary.DisposeAsync();
            throw;
        }
    }

    /// <summary>Stops the server at once and deletes the directory. Safe to call more than once.</summary>
    /// <returns>A task that completes once the server is gone and its files with it.</returns>
    public async ValueTask DisposeAsync()
    {
        if (!Live.TryRemove(this, out _))
        {
            return;
        }

        try
        {
            await Cluster.StopAsync(PostgresStopMode.Immediate);
        }
        finally
        {
            DeleteQuietly(Directory);
        }
    }

    /// <summary>
    /// Removes the temporary clusters whose test process is gone (killed, crashed, or stopped in a debugger): stops their
    /// servers at once and deletes their directories, so a run that died leaves nothing that breaks the next.
    /// </summary>
    /// <returns>How many clusters were removed.</returns>
    internal static async Task<int> SweepAbandonedAsync(PostgresInstallation installation, CancellationToken cancellationToken)
    {
        var swept = 0;
        foreach (var directory in System.IO.Directory.EnumerateDirectories(Path.GetTempPath(), DirectoryPrefix + "*"))
        {
            if (!IsAbandoned(directory))
            {
                continue;
            }

            var cluster = new LocalPostgresCluster(new LocalPostgresOptions
            {
                DataDirectory = Path.Combine(directory, "data"),
                SocketDirectory = Path.Combine(directory, "run"),
                Installation = installation,
            });
            try
            {
                await cluster.StopAsync(PostgresStopMode.Immediate, cancellationToken);
            }
            catch (LocalPostgresException)
            {
                // Still running: deleting its files under it would only make it harder to stop by hand.
                continue;
            }

            DeleteQuietly(directory);
            swept++;
        }

        return swept;
    }

    static bool IsAbandoned(string directory)
    {
        // ledger-pg-<pid>-<random>: the pid is in the name so a directory is never mistaken for abandoned in the
        // moment between its creation and the writing of its owner file.
        var name = Path.GetFileName(directory)[DirectoryPrefix.Length..];
        var dash = name.IndexOf('-', StringComparison.Ordinal);
        if (dash <= 0 || !int.TryParse(name[..dash], NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
        {
            return false;
        }

        string? ownerText = null;
        try
        {
            ownerText = File.ReadAllText(Path.Combine(directory, OwnerFileName));
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            // Not written yet, or never: the pid in the name is all there is to go on.
        }

        return ownerText is not null && TestRunOwner.Parse(ownerText) is { } owner
            ? !owner.IsAlive()
            : TestRunOwner.StartTimeOf(pid) is null;
    }

    static void RemoveAllLive()
    {
        foreach (var temporary in Live.Keys)
        {
            try
            {
                // ProcessExit has no async context to return to, and nothing after it would run the cleanup.
                temporary.DisposeAsync().AsTask().GetAwaiter().GetResult();
            }
#pragma warning disable CA1031 // An exception escaping ProcessExit would hide the test results; the next run's sweep retries.
            catch (Exception)
#pragma warning restore CA1031
            {
            }
        }
    }

    static void DeleteQuietly(string directory)
    {
        try
        {
            System.IO.Directory.Delete(directory, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Another test process's sweep may be deleting it at the same moment; what is left, the next sweep takes.
        }
    }
}
