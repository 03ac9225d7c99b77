using System.Reflection;
using System.Runtime.InteropServices;

namespace Ledger.Reliability.Tests.Support;

/// <summary>
/// The built service (src/Ledger.Api) and command line tool (src/Ledger.Cli), run from their own output directories
/// as a deployment would run them, with the same dotnet host and build configuration as this test assembly. The project
/// references make the build produce them before the suite runs.
/// </summary>
internal static class LedgerBinaries
{
    private static readonly Lazy<string> Root = new(() =>
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "Ledger.sln"))) return directory.FullName;
        }

        throw new InvalidOperationException($"No Ledger.sln above {AppContext.BaseDirectory}: the suite runs from the repository's build output.");
    });

    private static string Configuration =>
        typeof(LedgerBinaries).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "Debug";

    /// <summary>The dotnet host: DOTNET_HOST_PATH when the SDK set it, else the one whose runtime runs this process.</summary>
    public static string DotnetHost
    {
        get
        {
            if (Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host)) return host;
            // <root>/shared/Microsoft.NETCore.App/<version>/
            var runtime = new DirectoryInfo(RuntimeEnvironment.GetRuntimeDirectory().TrimEnd(Path.DirectorySeparatorChar));
            var candidate = Path.Combine(runtime.Parent!.Parent!.Parent!.FullName, "dotnet");
            return File.Exists(candidate) ? candidate : "dotnet";
        }
    }

    public static string ServiceDirectory => OutputOf("Ledger.Api");

    public static string ServiceAssembly => Existing(Path.Combine(ServiceDirectory, "Ledger.Api.dll"));

    public static string CliAssembly => Existing(Path.Combine(OutputOf("Ledger.Cli"), "ledger.dll"));

    private static string OutputOf(string project) => Path.Combine(Root.Value, "src", project, "bin", Configuration, "net10.0");

    private static string Existing(string path) => File.Exists(path)
        ? path
        : throw new FileNotFoundException($"{path} is missing: build the solution first (dotnet build Ledger.sln -c {Configuration}).", path);
}
