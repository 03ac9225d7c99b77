using System.Diagnostics;

namespace Ledger.Cli.Tests;

/// <summary>The built <c>ledger</c> command, run as its own process against a given database.</summary>
internal static class LedgerCommand
{
    private static readonly string Dll = FindDll();

    public sealed record Outcome(int ExitCode, string Output, string Error);

    public static async Task<Outcome> RunAsync(string connectionString, params string[] arguments)
    {
        var start = StartInfo(arguments);
        start.Environment["ConnectionStrings__Ledger"] = connectionString;
        using var process = Process.Start(start)!;
        process.StandardInput.Close();
        var output = process.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        var error = process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        timeout.CancelAfter(TimeSpan.FromMinutes(2));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }

        return new Outcome(process.ExitCode, await output, await error);
    }

    /// <summary>
    /// <c>dotnet ledger.dll ARGUMENTS</c> with its output redirected, on the embedded database unless the caller sets
    /// <c>ConnectionStrings__Ledger</c>: nothing of the test process's own ledger settings reaches it.
    /// </summary>
    public static ProcessStartInfo StartInfo(IEnumerable<string> arguments)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(Dll);
        foreach (var argument in arguments) start.ArgumentList.Add(argument);
        foreach (var name in start.Environment.Keys.Where(n => n.StartsWith("ConnectionStrings", StringComparison.OrdinalIgnoreCase)
                     || n.StartsWith("Ledger__", StringComparison.OrdinalIgnoreCase) || n.StartsWith("ASPNETCORE_", StringComparison.Ordinal)).ToList())
        {
            start.Environment.Remove(name);
        }

        start.Environment["NO_COLOR"] = "1";
        return start;
    }

    private static string FindDll()
    {
        // tests/Ledger.Cli.Tests/bin/<Configuration>/net10.0 -> src/Ledger.Cli/bin/<Configuration>/net10.0/ledger.dll
        var here = new DirectoryInfo(AppContext.BaseDirectory);
        var framework = here.Name;
        var configuration = here.Parent!.Name;
        var root = here.Parent!.Parent!.Parent!.Parent!.Parent!.FullName;
        var dll = Path.Combine(root, "src", "Ledger.Cli", "bin", configuration, framework, "ledger.dll");
        return File.Exists(dll) ? dll : throw new FileNotFoundException("Build src/Ledger.Cli first: the tests run its output.", dll);
    }
}
