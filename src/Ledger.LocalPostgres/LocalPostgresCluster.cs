using System.Data.Common;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Ledger.LocalPostgres;

/// <summary>
/// A PostgreSQL cluster in a local data directory, run with the server binaries installed on the machine: initialized once,
/// then started and stopped as often as needed, on the same port each time. When the process runs as root the server
/// runs as the postgres user (PostgreSQL refuses root), and the directories made for it are given to that user.
/// </summary>
/// <remarks>Start and stop are not meant to be called concurrently on the same instance.</remarks>
public sealed class LocalPostgresCluster
{
    // Linux's sun_path holds 108 bytes including the terminating NUL.
    const int MaxSocketPathBytes = 107;
    const string Superuser = "postgres";
    const int AttemptsOnTakenPort = 3;

    readonly LocalPostgresOptions options;
    readonly bool picksPort;
    bool startedByThisInstance;
    bool everStarted;

    /// <summary>Describes a cluster; nothing is created or started until <see cref="InitIfNeededAsync"/> and <see cref="StartAsync"/>.</summary>
    /// <param name="options">Where the cluster lives and how its server is set up.</param>
    /// <exception cref="PostgresNotInstalledException">No installation was given and none was found.</exception>
    public LocalPostgresCluster(LocalPostgresOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrWhiteSpace(options.DataDirectory);
        ArgumentOutOfRangeException.ThrowIfNegative(options.Port);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(options.Port, IPEndPoint.MaxPort);
        foreach (var name in options.Settings.Keys)
        {
            if (name.Length == 0 || !name.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '.'))
            {
                throw new ArgumentException($"'{name}' is not a PostgreSQL setting name.", nameof(options));
            }
        }

        this.options = options;
        DataDirectory = Path.GetFullPath(options.DataDirectory);
        SocketDirectory = Path.GetFullPath(options.SocketDirectory ?? options.DataDirectory);
        var socketPath = Path.Combine(SocketDirectory, $".s.PGSQL.{IPEndPoint.MaxPort}");
        if (Encoding.UTF8.GetByteCount(socketPath) > MaxSocketPathBytes)
        {
            throw new ArgumentException(
                $"The server's socket path {socketPath} would be longer than {MaxSocketPathBytes} bytes; choose a shorter SocketDirectory.",
                nameof(options));
        }

        Installation = options.Installation ?? PostgresInstallation.Find();
        picksPort = options.Port == 0;
        Port = picksPort ? FreeLoopbackPort() : options.Port;
    }

    /// <summary>The server binaries this cluster runs.</summary>
    public PostgresInstallation Installation { get; }

    /// <summary>The full path of the data directory.</summary>
    public string DataDirectory { get; }

    /// <summary>The full path of the directory holding the server's Unix-domain socket.</summary>
    public string SocketDirectory { get; }

    /// <summary>The TCP port the server listens on at 127.0.0.1; it stays the same across stops and starts.</summary>
    public int Port { get; private set; }

    /// <summary>The server log, which every start appends to.</summary>
    public string LogFile => Path.Combine(DataDirectory, "server.log");

    /// <summary>Whether a server is running on the data directory now, whoever started it.</summary>
    public bool IsRunning => Postmaster.IsServing(DataDirectory);

    /// <summary>A connection string for the superuser over the Unix-domain socket: <c>Host=&lt;socket dir&gt;;Port=&lt;port&gt;;Username=postgres;Database=&lt;database&gt;</c>.</summary>
    /// <param name="database">The database to connect to.</param>
    /// <returns>A connection string Npgsql understands.</returns>
    public string ConnectionString(string database = "postgres")
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(database);
        var builder = new DbConnectionStringBuilder
        {
            ["Host"] = SocketDirectory,
            ["Port"] = Port.ToString(CultureInfo.InvariantCulture),
            ["Username"] = Superuser,
            ["Database"] = database,
        };
        return builder.ConnectionString;
    }

    /// <summary>
    /// Uses a server that another process started on this data directory, such as a running service when a command line
    /// tool needs the same database: true when one is serving, with <see cref="Port"/> read from its postmaster.pid.
    /// The server stays the other process's to stop.
    /// </summary>
    /// <returns>Whether a server is serving this data directory.</returns>
    public bool TryAttach()
    {
        if (!IsRunning) return false;
        var lines = File.ReadAllLines(Path.Combine(DataDirectory, "postmaster.pid"));
        if (lines.Length < 4 || !int.TryParse(lines[3], NumberStyles.None, CultureInfo.InvariantCulture, out var port)) return false;
        Port = port;
        return true;
    }

    /// <summary>
    /// Runs initdb (superuser postgres, trust authentication, UTF8, locale C) unless the data directory already holds a cluster.
    /// </summary>
    /// <param name="cancellationToken">Cancels the wait; initdb is then killed.</param>
    /// <returns>True when a new cluster was initialized; false when one was already there.</returns>
    /// <exception cref="LocalPostgresException">initdb failed; the message holds what it printed.</exception>
    public async Task<bool> InitIfNeededAsync(CancellationToken cancellationToken = default)
    {
        if (File.Exists(Path.Combine(DataDirectory, "PG_VERSION")))
        {
            return false;
        }

        // An empty directory made beforehand is given over too; one that holds anything initdb refuses, and it stays whose it is.
        if (!Directory.Exists(DataDirectory) || !Directory.EnumerateFileSystemEntries(DataDirectory).Any())
        {
            Directory.CreateDirectory(DataDirectory);
            await ServerTools.GiveToServerUserAsync(DataDirectory, cancellationToken);
        }

        List<string> arguments = ["-D", DataDirectory, "-U", Superuser, "--auth=trust", "-E", "UTF8", "--locale=C"];
        if (options.Settings.TryGetValue("fsync", out var fsync) && fsync == "off")
        {
            // A server that never syncs gains nothing from an initdb that does, and the sync is most of initdb's time.
            arguments.Add("--no-sync");
        }

        var result = await ServerTools.RunAsServerUserAsync(Installation.PathOf("initdb"), arguments, options.Timeout, cancellationToken);
        if (!result.Succeeded)
        {
            var asPostgres = ServerTools.RunsAsRoot ? $" (as root, PostgreSQL runs as the postgres user, who must be able to reach {DataDirectory})" : "";
            throw new LocalPostgresException($"initdb could not initialize {DataDirectory}{asPostgres}:{Environment.NewLine}{result.Output}");
        }

        return true;
    }

    /// <summary>
    /// Starts the server and waits until it accepts connections. A stale postmaster.pid left by a crash is removed first;
    /// a server that an earlier process left running on this data directory is stopped and started again with these options.
    /// Does nothing when this instance already started it.
    /// </summary>
    /// <param name="cancellationToken">Cancels the wait; pg_ctl is then killed.</param>
    /// <returns>A task that completes once the server accepts connections.</returns>
    /// <exception cref="LocalPostgresException">The server did not start; the message ends with the tail of the server log.</exception>
    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        if (IsRunning)
        {
            if (startedByThisInstance)
            {
                return;
            }

            // Left by an earlier run that was killed outright; it has that run's port and settings, not ours.
            await StopAsync(PostgresStopMode.Fast, cancellationToken);
        }

        RemoveStaleLockFiles();
        if (!Directory.Exists(SocketDirectory))
        {
            Directory.CreateDirectory(SocketDirectory);
            await ServerTools.GiveToServerUserAsync(SocketDirectory, cancellationToken);
        }

        for (var attempt = 1; ; attempt++)
        {
            var logLengthBefore = File.Exists(LogFile) ? new FileInfo(LogFile).Length : 0;
            var result = await RunPgCtlAsync(
                ["start", "-w", "-t", TimeoutSeconds, "-D", DataDirectory, "-l", LogFile, "-o", ServerOptions()],
                cancellationToken);
            if (result.Succeeded)
            {
                startedByThisInstance = true;
                everStarted = true;
                return;
            }

            var log = ReadLogFrom(logLengthBefore);
            // Another process can take the free port between our picking it and the server binding it. Once the server
            // has run, though, it keeps its port: clients and tests that restart it rely on that.
            if (picksPort && !everStarted && attempt < AttemptsOnTakenPort && log.Contains("could not bind", StringComparison.Ordinal))
            {
                Port = FreeLoopbackPort();
                continue;
            }

            throw new LocalPostgresException(
                $"PostgreSQL did not start (data directory {DataDirectory}, port {Port}).{Environment.NewLine}{result.Output}" +
                $"{Environment.NewLine}Last lines of the server log {LogFile}:{Environment.NewLine}{LastLines(log, 30)}");
        }
    }

    /// <summary>Stops the server and waits until it has exited. Does nothing when no server is running.</summary>
    /// <param name="mode"><see cref="PostgresStopMode.Fast"/> for a clean shutdown; <see cref="PostgresStopMode.Immediate"/> to simulate a crash.</param>
    /// <param name="cancellationToken">Cancels the wait; pg_ctl is then killed.</param>
    /// <returns>A task that completes once the server has exited.</returns>
    /// <exception cref="LocalPostgresException">The server is still running after pg_ctl gave up.</exception>
    public async Task StopAsync(PostgresStopMode mode = PostgresStopMode.Fast, CancellationToken cancellationToken = default)
    {
        startedByThisInstance = false;
        if (!IsRunning)
        {
            return;
        }

        var modeName = mode == PostgresStopMode.Immediate ? "immediate" : "fast";
        var result = await RunPgCtlAsync(["stop", "-w", "-t", TimeoutSeconds, "-D", DataDirectory, "-m", modeName], cancellationToken);
        if (!result.Succeeded && IsRunning)
        {
            throw new LocalPostgresException($"PostgreSQL did not stop (data directory {DataDirectory}):{Environment.NewLine}{result.Output}");
        }
    }

    string PidFile => Path.Combine(DataDirectory, Postmaster.PidFileName);

    string SocketLockFile => Path.Combine(SocketDirectory, string.Create(CultureInfo.InvariantCulture, $".s.PGSQL.{Port}.lock"));

    string TimeoutSeconds => ((int)Math.Ceiling(options.Timeout.TotalSeconds)).ToString(CultureInfo.InvariantCulture);

    Task<ToolResult> RunPgCtlAsync(IEnumerable<string> arguments, CancellationToken cancellationToken) =>
        // pg_ctl gives up by itself after -t seconds; the margin only catches a pg_ctl that hangs.
        ServerTools.RunAsServerUserAsync(Installation.PathOf("pg_ctl"), arguments, options.Timeout + TimeSpan.FromSeconds(30), cancellationToken);

    /// <summary>The postgres command line; pg_ctl hands it to /bin/sh, so every value is shell-quoted.</summary>
    string ServerOptions()
    {
        var settings = new List<KeyValuePair<string, string>> { new("listen_addresses", "127.0.0.1") };
        if (options.MaxConnections is { } maxConnections)
        {
            settings.Add(new("max_connections", maxConnections.ToString(CultureInfo.InvariantCulture)));
        }

        settings.AddRange(options.Settings);
        var parts = new List<string> { "-p", Port.ToString(CultureInfo.InvariantCulture), "-k", ShellQuote(SocketDirectory) };
        foreach (var (name, value) in settings)
        {
            parts.Add("-c");
            parts.Add(ShellQuote($"{name}={value}"));
        }

        return string.Join(' ', parts);
    }

    static string ShellQuote(string value) => "'" + value.Replace("'", "'\\''", StringComparison.Ordinal) + "'";

    /// <summary>
    /// PostgreSQL treats a lock file as taken while the pid in it answers kill(pid, 0), which a reused pid does, and so does
    /// a killed server that its parent has not reaped yet (seen in this repository's crash test, on the socket's lock file).
    /// An empty or torn lock file, from a crash while it was being written, blocks the start just the same.
    /// </summary>
    void RemoveStaleLockFiles()
    {
        if (File.Exists(PidFile) && !IsRunning)
        {
            File.Delete(PidFile);
        }

        if (File.Exists(SocketLockFile) && !(Postmaster.ReadPid(SocketLockFile) is { } pid && Postmaster.IsLivePostgres(pid)))
        {
            File.Delete(SocketLockFile);
        }
    }

    string ReadLogFrom(long offset)
    {
        try
        {
            using var stream = new FileStream(LogFile, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            stream.Seek(Math.Min(offset, stream.Length), SeekOrigin.Begin);
            using var reader = new StreamReader(stream);
            return reader.ReadToEnd();
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return "(the server wrote no log)";
        }
    }

    static string LastLines(string text, int count) =>
        string.Join(Environment.NewLine, text.Split('\n', StringSplitOptions.RemoveEmptyEntries).TakeLast(count));

    static int FreeLoopbackPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }
}
