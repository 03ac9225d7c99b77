using System.Diagnostics;
using System.Globalization;

namespace Ledger.Testing;

/// <summary>
/// The test process a container belongs to. Its start time is kept with its pid because pids are reused:
/// a new process with a dead run's pid must not keep that run's container alive.
/// </summary>
internal readonly record struct TestRunOwner(int Pid, DateTime StartedUtc)
{
    static readonly TimeSpan StartTimeTolerance = TimeSpan.FromSeconds(2);

    public static TestRunOwner Current { get; } = Of(Environment.ProcessId);

    public static TestRunOwner Of(int pid)
    {
        using var process = Process.GetProcessById(pid);
        return new TestRunOwner(pid, process.StartTime.ToUniversalTime());
    }

    public static TestRunOwner? Parse(string text)
    {
        var parts = text.Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return parts.Length == 2
            && int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var pid)
            && long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var ticks)
            ? new TestRunOwner(pid, new DateTime(ticks, DateTimeKind.Utc))
            : null;
    }

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Pid} {StartedUtc.Ticks}");

    public bool IsAlive() => StartTimeOf(Pid) is { } started && (started - StartedUtc).Duration() < StartTimeTolerance;

    /// <summary>When the process with this pid started, or null when there is no such live process.</summary>
    public static DateTime? StartTimeOf(int pid)
    {
        // A test process killed outright stays a zombie until its parent reaps it, and is as dead as it will get.
        var stat = $"/proc/{pid}/stat";
        try
        {
            if (File.Exists(stat))
            {
                var text = File.ReadAllText(stat);
                var close = text.LastIndexOf(')');
                if (close > 0 && close + 2 < text.Length && text[close + 2] is 'Z' or 'X')
                {
                    return null;
                }
            }

            using var process = Process.GetProcessById(pid);
            return process.HasExited ? null : process.StartTime.ToUniversalTime();
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or IOException)
        {
            return null;
        }
    }
}
