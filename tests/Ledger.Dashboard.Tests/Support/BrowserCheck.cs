using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using System.Text.Json;

namespace Ledger.Dashboard.Tests.Support;

/// <summary>
/// Runs browser/check-dashboard.mjs with Node.js and playwright-core in Debian's Chromium. What it needs is checked first,
/// and each missing piece fails the test with the command that installs it: a browser test that skips when there is no
/// browser would pass in exactly the CI where it matters.
/// </summary>
internal static class BrowserCheck
{
    public static string Directory { get; } = typeof(BrowserCheck).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
        .Single(a => a.Key == "BrowserCheckDirectory").Value!;

    /// <summary>Debian's Chromium, or the one <c>CHROMIUM</c> names.</summary>
    public static string Chromium { get; } = Environment.GetEnvironmentVariable("CHROMIUM") is { Length: > 0 } path ? path : "/usr/bin/chromium";

    /// <summary>Fails the test, naming the install command, unless Chromium, Node.js 20+ and playwright-core are there.</summary>
    public static async Task AssertInstalledAsync(CancellationToken cancellationToken)
    {
        Assert.True(File.Exists(Chromium),
            $"Chromium is not installed at {Chromium}: install it with `apt-get install -y chromium` (.ci/run does), or set CHROMIUM to its path.");
        var nodeVersion = await NodeVersionAsync(cancellationToken);
        Assert.True(nodeVersion >= 20, $"The browser check needs Node.js 20 or later for playwright-core; `node --version` says {nodeVersion}.");
        Assert.True(File.Exists(Path.Combine(Directory, "node_modules", "playwright-core", "package.json")),
            $"playwright-core is not installed for the browser check: build tests/Ledger.Dashboard.Tests (its build runs `npm ci --prefix {Directory}`).");
    }

    /// <summary>Runs the check and returns what it saw; fails the test if the check itself could not run.</summary>
    public static async Task<JsonElement> RunAsync(Uri dashboard, string reportingKey, string lineKey, string screenshot, CancellationToken cancellationToken)
    {
        await AssertInstalledAsync(cancellationToken);

        var resultPath = Path.Combine(Path.GetTempPath(), $"dashboard-check-{Guid.NewGuid():N}.json");
        var start = new ProcessStartInfo("node", ["check-dashboard.mjs", resultPath])
        {
            WorkingDirectory = Directory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            Environment =
            {
                ["DASHBOARD_URL"] = dashboard.ToString(),
                ["REPORTING_KEY"] = reportingKey,
                ["LINE_KEY"] = lineKey,
                ["SCREENSHOT"] = screenshot,
                ["CHROMIUM"] = Chromium,
            },
        };
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var errors = process.StandardError.ReadToEndAsync(cancellationToken);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(TimeSpan.FromMinutes(5));
        try
        {
            await process.WaitForExitAsync(deadline.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }

        var log = $"stdout:\n{await output}\nstderr:\n{await errors}";
        Assert.True(process.ExitCode == 0, $"The browser check failed (exit code {process.ExitCode}).\n{log}");
        try
        {
            using var result = JsonDocument.Parse(await File.ReadAllBytesAsync(resultPath, cancellationToken));
            return result.RootElement.Clone();
        }
        finally
        {
            File.Delete(resultPath);
        }
    }

    private static async Task<int> NodeVersionAsync(CancellationToken cancellationToken)
    {
        Process? process;
        try
        {
            process = Process.Start(new ProcessStartInfo("node", ["--version"]) { RedirectStandardOutput = true });
        }
        catch (System.ComponentModel.Win32Exception)
        {
            process = null;
        }

        Assert.True(process is not null, "Node.js is not installed: install it with `apt-get install -y nodejs npm` (.ci/run does).");
        using (process)
        {
            var version = (await process.StandardOutput.ReadToEndAsync(cancellationToken)).Trim();
            await process.WaitForExitAsync(cancellationToken);
            return int.Parse(version.TrimStart('v').Split('.')[0], CultureInfo.InvariantCulture);
        }
    }
}
