using System.Diagnostics;
using System.Globalization;

namespace Ledger.LocalPostgres;

/// <summary>
/// Tells from a data directory's postmaster.pid whether its server is running. PostgreSQL itself treats a lock file as
/// taken while the pid in it answers kill(pid, 0); after a crash or a reboot that pid may be a different process by now,
/// or a killed server its parent has not reaped yet, and PostgreSQL then refuses to start. These checks are stricter.
/// </summary>
internal static class Postmaster
{
    public const string PidFileName = "postmaster.pid";

    static bool HasProcFileSystem => Directory.Exists("/proc/self");

    /// <summary>Whether the pid in the data directory's postmaster.pid is a live server on that data directory.</summary>
    public static bool IsServing(string dataDirectory)
    {
        var pidFile = Path.Combine(dataDirectory, PidFileName);
        if (ReadPid(pidFile) is not { } pid || !IsLivePostgres(pid))
        {
            return false;
        }

        if (!HasProcFileSystem)
        {
            return true;
        }

        // A reused pid may be a process of another cluster. A server's working directory is its data directory, so its
        // own postmaster.pid, read through /proc/<pid>/cwd, is this very file.
        try
        {
            return FirstLines(File.ReadLines($"/proc/{pid}/cwd/{PidFileName}")) == FirstLines(File.ReadLines(pidFile));
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return false;
        }
        catch (Exception e) when (e is UnauthorizedAccessException or IOException)
        {
            // Not ours to look into; the pid and the command name are all there is to go on.
            return true;
        }
    }

    /// <summary>The pid on the first line of a lock file: the data directory's postmaster.pid, or a socket's .lock file.</summary>
    public static int? ReadPid(string lockFile)
    {
        try
        {
            using var reader = new StreamReader(lockFile);
            return int.TryParse(reader.ReadLine(), NumberStyles.None, CultureInfo.InvariantCulture, out var pid) ? pid : null;
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
    }

    /// <summary>Whether the pid is a live (not zombie) process running the postgres program.</summary>
    public static bool IsLivePostgres(int pid)
    {
        if (HasProcFileSystem)
        {
            string stat;
            try
            {
                stat = File.ReadAllText($"/proc/{pid}/stat");
            }
            catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException or IOException)
            {
                return false;
            }

            // "<pid> (<command>) <state> ...": the command may itself hold spaces and parentheses.
            var open = stat.IndexOf('(', StringComparison.Ordinal);
            var close = stat.LastIndexOf(')');
            if (open < 0 || close < open || close + 2 >= stat.Length)
            {
                return false;
            }

            return stat[(open + 1)..close] == "postgres" && stat[close + 2] is not ('Z' or 'X');
        }

        try
        {
            using var process = Process.GetProcessById(pid);
            return !process.HasExited && process.ProcessName == "postgres";
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException)
        {
            return false;
        }
    }

    // The pid and the data directory; the lines after them change while the server starts up.
    static string FirstLines(IEnumerable<string> lines) => string.Join('\n', lines.Take(2));
}
