using System.Diagnostics;
using System.Globalization;

namespace Ledger.Benchmarks.Infrastructure;

/// <summary>CPU seconds used so far by the service, by PostgreSQL (all its processes) and by this load generator.</summary>
internal readonly record struct CpuSnapshot(double Service, double Postgres, double LoadGenerator, DateTimeOffset At)
{
    public CpuSnapshot Minus(CpuSnapshot earlier) =>
        new(Service - earlier.Service, Postgres - earlier.Postgres, LoadGenerator - earlier.LoadGenerator, At);
}

/// <summary>Reads Linux's /proc: CPU times, peak resident memory, the machine's load.</summary>
internal static class ProcStats
{
    // USER_HZ: the unit of /proc/<pid>/stat times; 100 on every Linux ABI .NET runs on.
    private const double TicksPerSecond = 100.0;

    public static CpuSnapshot Cpu(int servicePid, int postmasterPid) => new(
        ProcessSeconds(servicePid, includeChildren: false),
        PostgresSeconds(postmasterPid),
        Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds,
        DateTimeOffset.UtcNow);

    /// <summary>
    /// The server's CPU: the postmaster with every child it already reaped (cutime/cstime: backends whose connections
    /// closed) plus every live child (backends, WAL writer, checkpointer, ...).
    /// </summary>
    public static double PostgresSeconds(int postmasterPid)
    {
        var total = ProcessSeconds(postmasterPid, includeChildren: true);
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out var pid)) continue;
            var fields = StatFields(pid);
            if (fields is not null && fields[1] == postmasterPid.ToString(CultureInfo.InvariantCulture))
                total += Seconds(fields, includeChildren: true);
        }

        return total;
    }

    public static double ProcessSeconds(int pid, bool includeChildren) =>
        StatFields(pid) is { } fields ? Seconds(fields, includeChildren) : 0;

    /// <summary>A field of /proc/&lt;pid&gt;/status in kB (VmHWM: peak resident set; VmRSS: resident now).</summary>
    public static long? StatusKilobytes(int pid, string field)
    {
        try
        {
            var line = File.ReadLines($"/proc/{pid}/status").FirstOrDefault(l => l.StartsWith(field + ":", StringComparison.Ordinal));
            return line is null ? null : long.Parse(line[(field.Length + 1)..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>The 1-, 5- and 15-minute load averages: how busy the shared machine was.</summary>
    public static string LoadAverage()
    {
        try
        {
            return string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3));
        }
        catch (IOException)
        {
            return "unknown";
        }
    }

    public static long TotalMemoryMegabytes()
    {
        var line = File.ReadLines("/proc/meminfo").First(l => l.StartsWith("MemTotal:", StringComparison.Ordinal));
        return long.Parse(line["MemTotal:".Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) / 1024;
    }

    public static string CpuModel()
    {
        var line = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal));
        return line is null ? "unknown" : line[(line.IndexOf(':', StringComparison.Ordinal) + 1)..].Trim();
    }

    /// <summary>Fields after the command name (which may hold spaces): [0] state, [1] ppid, ... [11] utime, [12] stime, [13] cutime, [14] cstime.</summary>
    private static string[]? StatFields(int pid)
    {
        try
        {
            var text = File.ReadAllText($"/proc/{pid}/stat");
            return text[(text.LastIndexOf(')') + 2)..].Split(' ');
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null; // the process ended meanwhile
        }
    }

    private static double Seconds(string[] fields, bool includeChildren)
    {
        double Field(int i) => double.Parse(fields[i], CultureInfo.InvariantCulture);
        var ticks = Field(11) + Field(12) + (includeChildren ? Field(13) + Field(14) : 0);
        return ticks / TicksPerSecond;
    }
}
