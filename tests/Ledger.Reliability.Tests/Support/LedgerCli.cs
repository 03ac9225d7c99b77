using System.Diagnostics;

namespace Ledger.Reliability.Tests.Support;

/// <summary>The built <c>ledger</c> command, run as an operator would: a process with environment configuration.</summary>
internal static class LedgerCli
{
    /// <summary>Runs <c>ledger &lt;arguments&gt;</c> to completion; returns its exit code and everything it printed.</summary>
    public static async Task<(int ExitCode, string Output)> RunAsync(IReadOnlyDictionary<string, string?> environment, string workingDirectory, params string[] arguments)
    {
        var start = new ProcessStartInfo(LedgerBinaries.DotnetHost)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(LedgerBinaries.CliAssembly);
        foreach (var argument in arguments) start.ArgumentList.Add(argument);
        foreach (var name in start.Environment.Keys.Where(n => n.StartsWith("ConnectionStrings", StringComparison.OrdinalIgnoreCase)).ToList())
        {
            start.Environment.Remove(name);
        }

        foreach (var (name, value) in environment) start.Environment[name] = value;
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        var error = process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        await process.WaitForExitAsync(TestContext.Current.CancellationToken);
        return (process.ExitCode, await output + await error);
    }

    /// <summary>The environment that points the command at a test's cluster, as a deployment would configure it.</summary>
    public static Dictionary<string, string?> On(ReliabilityCluster cluster) => new()
    {
        ["ConnectionStrings__Ledger"] = cluster.ServiceConnectionString,
        ["ConnectionStrings__LedgerMigrations"] = cluster.MigrationsConnectionString,
    };
}
