using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Ledger.Api.Access;

namespace Ledger.Benchmarks.Infrastructure;

/// <summary>What the service process had allocated and collected at one moment (see <see cref="StartupHook"/>).</summary>
internal readonly record struct AllocationSnapshot(long AllocatedBytes, int Gen0, int Gen1, int Gen2);

/// <summary>
/// The ledger service (src/Ledger.Api, the same build the benchmark references) as a separate OS process on Kestrel,
/// listening on a real loopback socket, with its projection daemon, exactly as <c>Program</c> starts it. Its output goes
/// to service.log in the run's directory.
/// </summary>
internal sealed class ServiceProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly string _probeSocket;
    private readonly StreamWriter _log;

    private ServiceProcess(Process process, Uri baseAddress, string adminKey, string probeSocket, StreamWriter log)
    {
        _process = process;
        BaseAddress = baseAddress;
        AdminKey = adminKey;
        _probeSocket = probeSocket;
        _log = log;
    }

    public Uri BaseAddress { get; }

    public string AdminKey { get; }

    public int Pid => _process.Id;

    public static async Task<ServiceProcess> StartAsync(
        string connectionString, string workDirectory, IReadOnlyDictionary<string, string> environment, CancellationToken cancellationToken)
    {
        var service = Path.Combine(AppContext.BaseDirectory, "Ledger.Api");
        if (!File.Exists(service)) throw new FileNotFoundException("The service's build was not found next to the benchmark.", service);
        var port = FreePort();
        var adminKey = ApiKeyText.Generate().ToString();
        var probeSocket = Path.Combine(workDirectory, "probe.sock");
        var start = new ProcessStartInfo(service)
        {
            WorkingDirectory = AppContext.BaseDirectory,
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        start.Environment["ASPNETCORE_ENVIRONMENT"] = "Production";
        start.Environment["ASPNETCORE_URLS"] = $"http://127.0.0.1:{port}";
        start.Environment["ConnectionStrings__Ledger"] = connectionString;
        start.Environment["Ledger__BootstrapAdminKey"] = adminKey;
        start.Environment["Ledger__NodeId"] = "benchmark-node";
        // The benchmark measures capacity, not the per-key rate limit: one line key per factory carries all of its lanes'
        // requests, over the 500 requests/s a production key is allowed by default.
        start.Environment["Ledger__RateLimiting__PermitsPerSecond"] = "0";
        start.Environment["DOTNET_STARTUP_HOOKS"] = typeof(StartupHook).Assembly.Location;
        start.Environment[StartupHook.SocketVariable] = probeSocket;
        foreach (var (name, value) in environment) start.Environment[name] = value;

        var log = new StreamWriter(Path.Combine(workDirectory, "service.log")) { AutoFlush = true };
        var process = Process.Start(start) ?? throw new InvalidOperationException("The service did not start.");
        process.OutputDataReceived += (_, e) => Write(log, e.Data);
        process.ErrorDataReceived += (_, e) => Write(log, e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        var running = new ServiceProcess(process, new Uri($"http://127.0.0.1:{port}"), adminKey, probeSocket, log);
        try
        {
            await running.WaitUntilLiveAsync(cancellationToken);
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

    public async Task<AllocationSnapshot> ReadAllocationsAsync(CancellationToken cancellationToken)
    {
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await socket.ConnectAsync(new UnixDomainSocketEndPoint(_probeSocket), cancellationToken);
        var buffer = new byte[256];
        var length = 0;
        int read;
        while ((read = await socket.ReceiveAsync(buffer.AsMemory(length), cancellationToken)) > 0) length += read;
        var fields = Encoding.ASCII.GetString(buffer, 0, length).Trim().Split(' ');
        return new AllocationSnapshot(
            long.Parse(fields[0], CultureInfo.InvariantCulture), int.Parse(fields[1], CultureInfo.InvariantCulture),
            int.Parse(fields[2], CultureInfo.InvariantCulture), int.Parse(fields[3], CultureInfo.InvariantCulture));
    }

    private async Task WaitUntilLiveAsync(CancellationToken cancellationToken)
    {
        using var client = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(5) };
        var deadline = DateTime.UtcNow.AddSeconds(90);
        while (true)
        {
            if (_process.HasExited) throw new InvalidOperationException($"The service exited with code {_process.ExitCode}; see service.log.");
            try
            {
                using var response = await client.GetAsync(new Uri("/health/live", UriKind.Relative), cancellationToken);
                if (response.StatusCode == HttpStatusCode.OK && File.Exists(_probeSocket)) return;
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }

            if (DateTime.UtcNow > deadline) throw new TimeoutException("The service did not become live within 90 seconds; see service.log.");
            await Task.Delay(200, cancellationToken);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            // SIGTERM: the host stops gracefully (the store finishes queued appends); kill it if it does not.
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

        _process.Dispose();
        await _log.DisposeAsync();
        File.Delete(_probeSocket);
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
