using System.Diagnostics;
using System.Globalization;

namespace Ledger.Reliability.Tests.Support;

/// <summary>
/// A process the suite starts (a service node, <c>ledger run</c>, a <c>ledger</c> command), its standard output and error
/// appended to a log file that outlives it, so restarts of one node keep one log and the security tests can search it.
/// </summary>
internal sealed class ChildProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StreamWriter _log;
    private readonly Lock _gate = new();

    private ChildProcess(Process process, StreamWriter log)
    {
        _process = process;
        _log = log;
    }

    public int Id => _process.Id;

    public bool HasExited => _process.HasExited;

    public int ExitCode => _process.ExitCode;

    /// <summary>Starts <c>dotnet &lt;assembly&gt; &lt;arguments&gt;</c> with exactly the given environment on top of this one's, minus its ASP.NET and ledger settings.</summary>
    public static ChildProcess Start(string assembly, IEnumerable<string> arguments, IReadOnlyDictionary<string, string?> environment, string logPath, string workingDirectory)
    {
        var start = new ProcessStartInfo(LedgerBinaries.DotnetHost)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(assembly);
        foreach (var argument in arguments) start.ArgumentList.Add(argument);
        // Nothing of the test process's own configuration may leak into the service's.
        foreach (var name in start.Environment.Keys.ToList())
        {
            if (name.StartsWith("ASPNETCORE_", StringComparison.Ordinal) || name.StartsWith("ConnectionStrings", StringComparison.OrdinalIgnoreCase)
                || name.StartsWith("Ledger__", StringComparison.OrdinalIgnoreCase) || name.StartsWith("Logging__", StringComparison.Ordinal)
                || name is "DOTNET_ENVIRONMENT" or "LEDGER_TEST_DATABASE")
            {
                start.Environment.Remove(name);
            }
        }

        foreach (var (name, value) in environment) start.Environment[name] = value;

        Directory.CreateDirectory(Path.GetDirectoryName(logPath)!);
        var log = new StreamWriter(new FileStream(logPath, FileMode.Append, FileAccess.Write, FileShare.ReadWrite)) { AutoFlush = true };
        var process = new Process { StartInfo = start, EnableRaisingEvents = true };
        var child = new ChildProcess(process, log);
        process.OutputDataReceived += (_, e) => child.Write(e.Data);
        process.ErrorDataReceived += (_, e) => child.Write(e.Data);
        child.Write($"--- {DateTimeOffset.UtcNow:O} started: dotnet {string.Join(' ', start.ArgumentList)}");
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return child;
    }

    /// <summary>kill -9: the process gets no chance to finish anything.</summary>
    public async Task KillAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: false);
        }

        await _process.WaitForExitAsync();
        Write($"--- {DateTimeOffset.UtcNow:O} killed (SIGKILL)");
    }

    /// <summary>
    /// SIGSTOP: the process stops where it is, as under a long GC pause, a hung VM or a debugger; the kernel keeps its
    /// sockets open and acknowledges what arrives, so nothing outside it can tell from TCP alone.
    /// </summary>
    public async Task FreezeAsync()
    {
        await SignalAsync("STOP");
        Write($"--- {DateTimeOffset.UtcNow:O} frozen (SIGSTOP)");
    }

    /// <summary>SIGCONT: a frozen process runs on from where it stopped, its timers all overdue.</summary>
    public async Task ResumeAsync()
    {
        await SignalAsync("CONT");
        Write($"--- {DateTimeOffset.UtcNow:O} resumed (SIGCONT)");
    }

    /// <summary>SIGTERM, as an orchestrator stops a node; waits for the exit (then kills it after <paramref name="grace"/>).</summary>
    public async Task TerminateAsync(TimeSpan grace)
    {
        await SignalAsync("TERM");

        using var timeout = new CancellationTokenSource(grace);
        try
        {
            await _process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            Write($"--- {DateTimeOffset.UtcNow:O} did not stop within {grace.TotalSeconds} s of SIGTERM; killing it");
            await KillAsync();
        }
    }

    public Task WaitForExitAsync(CancellationToken cancellationToken) => _process.WaitForExitAsync(cancellationToken);

    private async Task SignalAsync(string signal)
    {
        if (_process.HasExited) return;
        using var kill = Process.Start(new ProcessStartInfo("kill") { ArgumentList = { "-" + signal, _process.Id.ToString(CultureInfo.InvariantCulture) } })!;
        await kill.WaitForExitAsync();
        if (kill.ExitCode != 0 && !_process.HasExited) throw new InvalidOperationException($"kill -{signal} {_process.Id} exited with {kill.ExitCode}");
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited) await KillAsync();
        // The asynchronous readers may still deliver the last lines after the exit.
        _process.WaitForExit();
        lock (_gate) _log.Dispose();
        _process.Dispose();
    }

    private void Write(string? line)
    {
        if (line is null) return;
        lock (_gate)
        {
            if (_log.BaseStream.CanWrite) _log.WriteLine(line);
        }
    }
}
