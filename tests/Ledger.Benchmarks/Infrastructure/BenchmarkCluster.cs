using System.Globalization;
using Ledger.LocalPostgres;
using Npgsql;

namespace Ledger.Benchmarks.Infrastructure;

/// <summary>
/// The benchmark's own throwaway PostgreSQL: a fresh cluster in /tmp/ledger-bench-&lt;pid&gt;-&lt;random&gt;, removed at the end
/// (and by the next run if this one was killed). Unlike the test fixture it keeps fsync on: the figures are meant to be
/// those of a durable server, with synchronous_commit on as the ledger requires.
/// </summary>
internal sealed class BenchmarkCluster : IAsyncDisposable
{
    private const string DirectoryPrefix = "ledger-bench-";

    /// <summary>
    /// Settings a production server of this size would have; nothing here trades durability. max_wal_size keeps a
    /// million-event load from checkpointing every few seconds, which would measure checkpoints rather than the ledger.
    /// </summary>
    public static readonly IReadOnlyDictionary<string, string> Settings = new Dictionary<string, string>
    {
        ["shared_buffers"] = "1GB",
        ["max_wal_size"] = "8GB",
        ["checkpoint_timeout"] = "15min",
        ["synchronous_commit"] = "on",
        ["fsync"] = "on",
    };

    private BenchmarkCluster(string directory, LocalPostgresCluster cluster)
    {
        Directory = directory;
        Cluster = cluster;
    }

    public string Directory { get; }

    public LocalPostgresCluster Cluster { get; }

    /// <summary>A TCP connection string (the service and the raw baselines both connect over TCP, as a real deployment does).</summary>
    public string ConnectionString(string database) => new NpgsqlConnectionStringBuilder
    {
        Host = "127.0.0.1",
        Port = Cluster.Port,
        Username = "postgres",
        Database = database,
        MaxPoolSize = 200,
    }.ConnectionString;

    public static async Task<BenchmarkCluster> StartAsync(bool profile, CancellationToken cancellationToken)
    {
        SweepAbandoned();
        var directory = Path.Combine(Path.GetTempPath(),
            string.Create(CultureInfo.InvariantCulture, $"{DirectoryPrefix}{Environment.ProcessId}-{Guid.NewGuid():N}")[..48]);
        System.IO.Directory.CreateDirectory(directory);
        var cluster = new LocalPostgresCluster(new LocalPostgresOptions
        {
            DataDirectory = Path.Combine(directory, "data"),
            SocketDirectory = Path.Combine(directory, "run"),
            MaxConnections = 300,
            Settings = profile
                ? new Dictionary<string, string>(Settings)
                {
                    ["shared_preload_libraries"] = "pg_stat_statements",
                    ["pg_stat_statements.track_planning"] = "on",
                }
                : Settings,
        });
        var started = new BenchmarkCluster(directory, cluster);
        try
        {
            await cluster.InitIfNeededAsync(cancellationToken);
            await cluster.StartAsync(cancellationToken);
            return started;
        }
        catch
        {
            await started.DisposeAsync();
            throw;
        }
    }

    public async Task CreateDatabaseAsync(string name, CancellationToken cancellationToken)
    {
        await using var connection = new NpgsqlConnection(ConnectionString("postgres"));
        await connection.OpenAsync(cancellationToken);
        // The name is the benchmark's own constant, never input.
        await using var command = new NpgsqlCommand($"create database \"{name}\" template template0", connection);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>The postmaster's pid, to account the server's CPU time.</summary>
    public int PostmasterPid =>
        int.Parse(File.ReadLines(Path.Combine(Cluster.DataDirectory, "postmaster.pid")).First(), CultureInfo.InvariantCulture);

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (Cluster.IsRunning) await Cluster.StopAsync(PostgresStopMode.Immediate);
        }
        finally
        {
            DeleteQuietly(Directory);
        }
    }

    /// <summary>Removes clusters of benchmark runs whose process is gone (killed with SIGKILL, or a machine that rebooted).</summary>
    private static void SweepAbandoned()
    {
        foreach (var directory in System.IO.Directory.EnumerateDirectories(Path.GetTempPath(), DirectoryPrefix + "*"))
        {
            var rest = Path.GetFileName(directory)[DirectoryPrefix.Length..];
            var dash = rest.IndexOf('-', StringComparison.Ordinal);
            if (dash <= 0 || !int.TryParse(rest[..dash], NumberStyles.None, CultureInfo.InvariantCulture, out var pid)) continue;
            if (pid == Environment.ProcessId || System.IO.Directory.Exists($"/proc/{pid}")) continue;
            try
            {
                var cluster = new LocalPostgresCluster(new LocalPostgresOptions
                {
                    DataDirectory = Path.Combine(directory, "data"),
                    SocketDirectory = Path.Combine(directory, "run"),
                });
                if (cluster.IsRunning) cluster.StopAsync(PostgresStopMode.Immediate).GetAwaiter().GetResult();
                DeleteQuietly(directory);
                Console.WriteLine($"Removed the cluster of an earlier benchmark run that did not finish: {directory}");
            }
            catch (LocalPostgresException e)
            {
                Console.WriteLine($"Could not remove {directory}: {e.Message}");
            }
        }
    }

    private static void DeleteQuietly(string directory)
    {
        try
        {
            System.IO.Directory.Delete(directory, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Left for the next run's sweep.
        }
    }
}
