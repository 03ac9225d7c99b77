using Ledger.LocalPostgres;

namespace Ledger.Testing.Tests;

/// <summary>
/// A local PostgreSQL cluster from the installed server binaries in a fresh temporary directory, for the tests of
/// src/Ledger.LocalPostgres (the embedded default of <c>ledger run</c>), which stop, kill and restart it. Disposing it
/// stops the server and deletes the directory.
/// </summary>
internal sealed class ScratchCluster : IAsyncDisposable
{
    ScratchCluster(string directory, LocalPostgresCluster cluster)
    {
        Directory = directory;
        Cluster = cluster;
    }

    public string Directory { get; }

    public LocalPostgresCluster Cluster { get; }

    /// <summary>Makes the directory, and initializes and starts the cluster only when asked to.</summary>
    public static async Task<ScratchCluster> CreateAsync(bool start = true)
    {
        // Not CreateTempSubdirectory: its mode 700 would keep out the postgres user the server runs as when we are root.
        var directory = Path.Combine(Path.GetTempPath(), "ledger-local-pg-" + Guid.NewGuid().ToString("N")[..12]);
        System.IO.Directory.CreateDirectory(directory);
        var scratch = new ScratchCluster(directory, new LocalPostgresCluster(new LocalPostgresOptions
        {
            DataDirectory = Path.Combine(directory, "data"),
            SocketDirectory = Path.Combine(directory, "run"),
            Settings = new Dictionary<string, string> { ["fsync"] = "off" },
        }));
        try
        {
            if (start)
            {
                await scratch.Cluster.InitIfNeededAsync(TestContext.Current.CancellationToken);
                await scratch.Cluster.StartAsync(TestContext.Current.CancellationToken);
            }

            return scratch;
        }
        catch
        {
            await scratch.DisposeAsync();
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await Cluster.StopAsync(PostgresStopMode.Immediate);
        }
        finally
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
    }
}
