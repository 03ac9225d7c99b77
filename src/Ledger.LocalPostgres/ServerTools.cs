using System.ComponentModel;
using System.Diagnostics;

namespace Ledger.LocalPostgres;

/// <summary>What a program printed and how it exited.</summary>
internal sealed record ToolResult(int ExitCode, string StandardOutput, string StandardError)
{
    public bool Succeeded => ExitCode == 0;

    public string Output => string.Join(Environment.NewLine, new[] { StandardOutput.Trim(), StandardError.Trim() }.Where(text => text.Length > 0));
}

/// <summary>Runs initdb, pg_ctl and chown, as the postgres user where PostgreSQL requires it.</summary>
internal static class ServerTools
{
    const string ServerUser = "postgres";

    /// <summary>initdb, pg_ctl and postgres refuse to run as root, so a root process runs them as the postgres user.</summary>
    public static bool RunsAsRoot => Environment.IsPrivilegedProcess;

    public static Task<ToolResult> RunAsServerUserAsync(string program, IEnumerable<string> arguments, TimeSpan timeout, CancellationToken cancellationToken) =>
        RunsAsRoot
            ? RunAsync(FindRunuser(), ["-u", ServerUser, "--", program, .. arguments], timeout, cancellationToken)
            : RunAsync(program, arguments, timeout, cancellationToken);

    /// <summary>Hands a directory the root process made to the postgres user, who must own the data directory.</summary>
    public static async Task GiveToServerUserAsync(string directory, CancellationToken cancellationToken)
    {
        if (!RunsAsRoot)
        {
            return;
        }

        var result = await RunAsync("chown", [$"{ServerUser}:", directory], TimeSpan.FromSeconds(30), cancellationToken);
        if (!result.Succeeded)
        {
            throw new LocalPostgresException($"Could not give {directory} to the {ServerUser} user: {result.Output}");
        }
    }

    public static async Task<ToolResult> RunAsync(string program, IEnumerable<string> arguments, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var startInfo = new ProcessStartInfo(program)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            // The postgres user may not be allowed into the caller's working directory, and every path we pass is absolute.
            WorkingDirectory = "/",
        };
        foreach (var argument in arguments)
        {
            startInfo.ArgumentList.Add(argument);
        }

        var commandLine = string.Join(' ', startInfo.ArgumentList.Prepend(program));
        using var process = new Process { StartInfo = startInfo };
        try
        {
            process.Start();
        }
        catch (Win32Exception e)
        {
            throw new LocalPostgresException($"Could not run {commandLine}: {e.Message}", e);
        }

        // CI runs with no stdin; a tool that waits for input must see end-of-file, not hang.
        process.StandardInput.Close();
        var standardOutput = process.StandardOutput.ReadToEndAsync(CancellationToken.None);
        var standardError = process.StandardError.ReadToEndAsync(CancellationToken.None);

        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        try
        {
            await process.WaitForExitAsync(deadline.Token);
        }
        catch (OperationCanceledException)
        {
            KillQuietly(process);
            cancellationToken.ThrowIfCancellationRequested();
            throw new LocalPostgresException($"{commandLine} did not finish within {timeout.TotalSeconds:0} s.");
        }

        return new ToolResult(process.ExitCode, await standardOutput, await standardError);
    }

    static void KillQuietly(Process process)
    {
        try
        {
            process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // It exited between the deadline and the kill.
        }
    }

    static string FindRunuser()
    {
        var searchPath = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries);
        // A root shell's PATH does not always include the sbin directories.
        foreach (var directory in searchPath.Concat(["/usr/sbin", "/sbin", "/usr/bin", "/bin"]))
        {
            var candidate = Path.Combine(directory, "runuser");
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        throw new LocalPostgresException(
            "PostgreSQL refuses to run as root, and runuser (util-linux) was not found to run it as the postgres user. " +
            "Run as an ordinary user, or install util-linux.");
    }
}
