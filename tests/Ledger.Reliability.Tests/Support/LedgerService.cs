using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using Ledger.Api.Access;

namespace Ledger.Reliability.Tests.Support;

/// <summary>
/// One node of the ledger service: the built Ledger.Api run as a separate OS process, configured by environment
/// variables as in a deployment, listening on a free port that it keeps across restarts. Its output goes to
/// <see cref="LogPath"/>.
/// </summary>
internal sealed class LedgerService : IAsyncDisposable
{
    /// <summary>How long a node may take to start (migrations included) on a shared, busy CI machine.</summary>
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(120);

    private readonly Dictionary<string, string?> _environment;
    private readonly SocketsHttpHandler _handler;
    private ChildProcess? _process;

    private LedgerService(string nodeId, int port, Dictionary<string, string?> environment, string logPath)
    {
        NodeId = nodeId;
        Port = port;
        _environment = environment;
        LogPath = logPath;
        BaseAddress = new Uri($"http://127.0.0.1:{port}");
        _handler = new SocketsHttpHandler
        {
            MaxConnectionsPerServer = 256,
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(30),
            ConnectTimeout = TimeSpan.FromSeconds(5),
        };
    }

    public string NodeId { get; }
    public int Port { get; }
    public Uri BaseAddress { get; }
    public string LogPath { get; }

    /// <summary>The admin key the node was started with (Ledger__BootstrapAdminKey).</summary>
    public string AdminKey => _environment["Ledger__BootstrapAdminKey"]!;

    public bool IsRunning => _process is { HasExited: false };

    public int ProcessId => _process?.Id ?? throw new InvalidOperationException($"{NodeId} is not running.");

    /// <summary>
    /// Starts a node on <paramref name="cluster"/>: migrating as the migration role, serving as the service role, with
    /// <paramref name="adminKey"/> as its bootstrap admin key. <paramref name="settings"/> adds or overrides environment
    /// variables (configuration keys with <c>__</c>).
    /// </summary>
    public static async Task<LedgerService> StartAsync(
        ReliabilityCluster cluster, string nodeId, string adminKey, string test,
        IReadOnlyDictionary<string, string?>? settings = null, CancellationToken cancellationToken = default)
    {
        var port = FreePort();
        var environment = new Dictionary<string, string?>
        {
            ["ASPNETCORE_URLS"] = $"http://127.0.0.1:{port}",
            ["ASPNETCORE_ENVIRONMENT"] = "Production",
            ["ConnectionStrings__Ledger"] = cluster.ServiceConnectionString,
            ["ConnectionStrings__LedgerMigrations"] = cluster.MigrationsConnectionString,
            ["Ledger__BootstrapAdminKey"] = adminKey,
            ["Ledger__NodeId"] = nodeId,
            // The suite's load tests post far faster than any line system; the rate limit has a test of its own.
            ["Ledger__RateLimiting__PermitsPerSecond"] = "0",
            ["Logging__Console__FormatterName"] = "simple",
            ["Logging__Console__FormatterOptions__TimestampFormat"] = "HH:mm:ss.fff ",
            ["Logging__Console__FormatterOptions__SingleLine"] = "true",
        };
        foreach (var (name, value) in settings ?? new Dictionary<string, string?>()) environment[name] = value;
        var logPath = Path.Combine(RunSummary.ResultsDirectory, "logs", $"{test}-{nodeId}-{DateTime.UtcNow:HHmmss}.log");
        var service = new LedgerService(nodeId, port, environment, logPath);
        await service.StartAsync(cancellationToken);
        return service;
    }

    /// <summary>Starts the process (again, after a kill) and waits until it answers <c>/health/live</c>.</summary>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (IsRunning) throw new InvalidOperationException($"{NodeId} is already running.");
        if (_process is not null) await _process.DisposeAsync();
        _process = ChildProcess.Start(LedgerBinaries.ServiceAssembly, [], _environment, LogPath, LedgerBinaries.ServiceDirectory);
        using var probe = new HttpClient(new SocketsHttpHandler(), disposeHandler: true) { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(5) };
        var deadline = DateTime.UtcNow + StartTimeout;
        while (true)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"{NodeId} exited with code {_process.ExitCode} while starting; see {LogPath}:\n{Tail()}");
            }

            try
            {
                using var response = await probe.GetAsync(new Uri("/health/live", UriKind.Relative), cancellationToken);
                if (response.StatusCode == HttpStatusCode.OK) return;
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }
            catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                // Busy starting.
            }

            if (DateTime.UtcNow > deadline) throw new TimeoutException($"{NodeId} did not answer /health/live within {StartTimeout}; see {LogPath}:\n{Tail()}");
            await Task.Delay(100, cancellationToken);
        }
    }

    /// <summary>kill -9 of the node: in-flight requests and transactions are cut wherever they are.</summary>
    public async Task KillAsync()
    {
        if (_process is not null) await _process.KillAsync();
    }

    /// <summary>SIGTERM: the node shuts down gracefully (what a rolling deployment does).</summary>
    public async Task StopAsync()
    {
        if (_process is null) return;
        // A frozen process would only act on SIGTERM once resumed.
        await ResumeAsync();
        await _process.TerminateAsync(TimeSpan.FromSeconds(30));
    }

    /// <summary>Whether the node is stopped by <see cref="FreezeAsync"/>.</summary>
    public bool IsFrozen { get; private set; }

    /// <summary>SIGSTOP of the node: it keeps its connections (to the database and its clients) but does nothing at all.</summary>
    public async Task FreezeAsync()
    {
        if (_process is null) throw new InvalidOperationException($"{NodeId} is not running.");
        await _process.FreezeAsync();
        IsFrozen = true;
    }

    /// <summary>SIGCONT of a frozen node; nothing when it is not frozen.</summary>
    public async Task ResumeAsync()
    {
        if (_process is null || !IsFrozen) return;
        await _process.ResumeAsync();
        IsFrozen = false;
    }

    /// <summary>A client sending <paramref name="key"/> as its Bearer token; requests that hang are cut after <paramref name="timeout"/>.</summary>
    public HttpClient CreateClient(string? key, TimeSpan? timeout = null)
    {
        var client = new HttpClient(_handler, disposeHandler: false) { BaseAddress = BaseAddress, Timeout = timeout ?? TimeSpan.FromSeconds(60) };
        if (key is not null) client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        return client;
    }

    /// <summary>Log lines at these levels (the console formatter's "warn:", "fail:", "crit:").</summary>
    public static IEnumerable<string> LinesAt(string log, params string[] levels) =>
        log.Split('\n').Where(line => levels.Any(level =>
            line.StartsWith(level + ": ", StringComparison.Ordinal) || line.Contains(" " + level + ": ", StringComparison.Ordinal)));

    public string ReadLog()
    {
        using var stream = new FileStream(LogPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    public async ValueTask DisposeAsync()
    {
        if (_process is not null)
        {
            if (_process is { HasExited: false }) await StopAsync();
            await _process.DisposeAsync();
        }

        _handler.Dispose();
    }

    /// <summary>A new admin key text for a node's Ledger__BootstrapAdminKey.</summary>
    public static string NewAdminKey() => ApiKeyText.Generate().ToString();

    private string Tail()
    {
        var lines = File.Exists(LogPath) ? ReadLog().Split('\n') : [];
        return string.Join('\n', lines.TakeLast(40));
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{NodeId} ({BaseAddress})");
}
