using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Ledger.Api.Access;

namespace Ledger.Benchmarks.Infrastructure;

/// <summary>What the service process had allocated and collected at one moment (see <see cref="StartupHook"/>).</summary>
internal readonly record struct AllocationSnapshot(long AllocatedBytes, int Gen0, int Gen1, int Gen2, TimeSpan GcPause = default);

/// <summary>How to start the service: its database, the run's directory (logs, the probe's socket), extra environment, the admin key.</summary>
internal sealed record ServiceLaunch(
    string ConnectionString, string WorkDirectory, IReadOnlyDictionary<string, string> Environment, string AdminKey);

/// <summary>
/// The ledger service (src/Ledger.Api, the same build the benchmark references) as a separate OS process on Kestrel,
/// listening on a real loopback socket, with its projection daemon, exactly as <c>Program</c> starts it. Its output goes
/// to service.log in the run's directory.
/// </summary>
internal sealed class ServiceProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly string? _probeSocket;
    private readonly StreamWriter _log;
    private bool _stopped;

    private ServiceProcess(Process process, Uri baseAddress, ServiceLaunch launch, string? probeSocket, StreamWriter log)
    {
        _process = process;
        BaseAddress = baseAddress;
        Launch = launch;
        _probeSocket = probeSocket;
        _log = log;
    }

    public Uri BaseAddress { get; }

    /// <summary>How this process was started: the same launch starts it again on the same database (P7).</summary>
    public ServiceLaunch Launch { get; }

    public string AdminKey => Launch.AdminKey;

    public int Pid => _process.Id;

    /// <summary>
    /// From just before the process was started to the first answer the start waited for: 200 from /health/live (and
    /// the probe's socket) for a service started with the probe, the first 200 from /health/ready without it.
    /// </summary>
    public TimeSpan StartedAfter { get; private set; }

    /// <summary>From just before the process was started to the first HTTP answer of any status: when Kestrel was listening.</summary>
    public TimeSpan AnsweringAfter { get; private set; }

    /// <summary>
    /// Starts the service on a new database (it migrates it) with a new bootstrap admin key, and with the allocation
    /// probe (<see cref="StartupHook"/>) loaded; returns once it is live.
    /// </summary>
    public static Task<ServiceProcess> StartAsync(
        string connectionString, string workDirectory, IReadOnlyDictionary<string, string> environment, CancellationToken cancellationToken) =>
        StartAsync(new ServiceLaunch(connectionString, workDirectory, environment, ApiKeyText.Generate().ToString()), "service.log", probe: true,
            cancellationToken);

    /// <summary>
    /// Starts the service as <paramref name="launch"/> says, logging to <paramref name="logName"/> in its directory. With
    /// <paramref name="probe"/> the allocation probe is loaded and the start returns once the service is live; without it
    /// the process is exactly the service and the start returns at its first 200 from /health/ready, polled every 10 ms
    /// (issue 15, P7: start to ready).
    /// </summary>
    public static async Task<ServiceProcess> StartAsync(ServiceLaunch launch, string logName, bool probe, CancellationToken cancellationToken)
    {
        var service = Path.Combine(AppContext.BaseDirectory, "Ledger.Api");
        if (!File.Exists(service)) throw new FileNotFoundException("The service's build was not found next to the benchmark.", service);
        var port = FreePort();
        var probeSocket = probe ? Path.Combine(launch.WorkDirectory, "probe.sock") : null;
        var start = new ProcessStartInfo(service)
        {
            WorkingDirectory = AppContext.BaseDirectory,
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        start.Environment["ASPNETCORE_ENVIRONMENT"] = "Production";
        start.Environment["ASPNETCORE_URLS"] = $"http://127.0.0.1:{port}";
        start.Environment["ConnectionStrings__Ledger"] = launch.ConnectionString;
        start.Environment["Ledger__BootstrapAdminKey"] = launch.AdminKey;
        start.Environment["Ledger__NodeId"] = "benchmark-node";
        // The benchmark measures capacity, not the per-key rate limit: one line key per factory carries all of its lanes'
        // requests, over the 500 requests/s a production key is allowed by default.
        start.Environment["Ledger__RateLimiting__PermitsPerSecond"] = "0";
        if (probeSocket is not null)
        {
            start.Environment["DOTNET_STARTUP_HOOKS"] = typeof(StartupHook).Assembly.Location;
            start.Environment[StartupHook.SocketVariable] = probeSocket;
        }

        foreach (var (name, value) in launch.Environment) start.Environment[name] = value;

        var log = new StreamWriter(Path.Combine(launch.WorkDirectory, logName)) { AutoFlush = true };
        var started = Stopwatch.GetTimestamp();
        var process = Process.Start(start) ?? throw new InvalidOperationException("The service did not start.");
        process.OutputDataReceived += (_, e) => Write(log, e.Data);
        process.ErrorDataReceived += (_, e) => Write(log, e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        var running = new ServiceProcess(process, new Uri($"http://127.0.0.1:{port}"), launch, probeSocket, log);
        try
        {
            if (probe)
                await running.WaitForAsync("/health/live", started, TimeSpan.FromMilliseconds(200), cancellationToken);
            else
                await running.WaitForAsync("/health/ready", started, TimeSpan.FromMilliseconds(10), cancellationToken);
            running.StartedAfter = Stopwatch.GetElapsedTime(started);
            return running;
        }
        catch
        {
            await running.DisposeAsync();
            throw;
        }
    }

    /// <summary>Peak resident set size so far (VmHWM), in MiB.</summary>
    public double PeakRssMegabytes => (ProcStats.StatusKilobytes(Pid, "VmHWM") ?? 0) / 1024.0;

    /// <summary>Resident set size now (VmRSS), in MiB.</summary>
    public double RssMegabytes => (ProcStats.StatusKilobytes(Pid, "VmRSS") ?? 0) / 1024.0;

    /// <summary>
    /// Resets the peak resident set (VmHWM) to the current one (Linux 4.0+: "5" to /proc/&lt;pid&gt;/clear_refs), so that a
    /// later <see cref="PeakRssMegabytes"/> is the peak since this moment. False if the kernel refused.
    /// </summary>
    public bool ResetPeakRss()
    {
        try
        {
            File.WriteAllText($"/proc/{Pid}/clear_refs", "5");
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    public async Task<AllocationSnapshot> ReadAllocationsAsync(CancellationToken cancellationToken)
    {
        if (_probeSocket is null) throw new InvalidOperationException("This service was started without the allocation probe.");
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await socket.ConnectAsync(new UnixDomainSocketEndPoint(_probeSocket), cancellationToken);
        var buffer = new byte[256];
        var length = 0;
        int read;
        while ((read = await socket.ReceiveAsync(buffer.AsMemory(length), cancellationToken)) > 0) length += read;
        var fields = Encoding.ASCII.GetString(buffer, 0, length).Trim().Split(' ');
        return new AllocationSnapshot(
            long.Parse(fields[0], CultureInfo.InvariantCulture), int.Parse(fields[1], CultureInfo.InvariantCulture),
            int.Parse(fields[2], CultureInfo.InvariantCulture), int.Parse(fields[3], CultureInfo.InvariantCulture),
            TimeSpan.FromTicks(long.Parse(fields[4], CultureInfo.InvariantCulture)));
    }

    private async Task WaitForAsync(string path, long started, TimeSpan interval, CancellationToken cancellationToken)
    {
        using var client = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(5) };
        var deadline = DateTime.UtcNow.AddSeconds(90);
        while (true)
        {
            if (_process.HasExited) throw new InvalidOperationException($"The service exited with code {_process.ExitCode}; see its log.");
            try
            {
                using var response = await client.GetAsync(new Uri(path, UriKind.Relative), cancellationToken);
                if (AnsweringAfter == TimeSpan.Zero) AnsweringAfter = Stopwatch.GetElapsedTime(started);
                if (response.StatusCode == HttpStatusCode.OK && (_probeSocket is null || File.Exists(_probeSocket))) return;
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }

            if (DateTime.UtcNow > deadline) throw new TimeoutException($"The service did not answer 200 on {path} within 90 seconds; see its log.");
            await Task.Delay(interval, cancellationToken);
        }
    }

    /// <summary>Stops the service (SIGTERM: the host stops gracefully; killed if it has not exited after 15 s). Idempotent.</summary>
    public async Task StopAsync()
    {
        if (_stopped) return;
        _stopped = true;
        if (!_process.HasExited)
        {
            Process.Start("kill", ["-TERM", _process.Id.ToString(CultureInfo.InvariantCulture)])?.WaitForExit();
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(15));
            try
            {
                await _process.WaitForExitAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
                _process.Kill(entireProcessTree: true);
            }
        }

        if (_probeSocket is not null) File.Delete(_probeSocket);
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        _process.Dispose();
        await _log.DisposeAsync();
    }

    private static void Write(StreamWriter log, string? line)
    {
        if (line is null) return;
        lock (log) log.WriteLine(line);
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
