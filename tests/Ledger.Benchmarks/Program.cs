using System.CommandLine;
using System.Runtime.InteropServices;
using Ledger.Benchmarks;

var mode = new Option<string>("--mode")
{
    Description = "quick: a smoke run of about two minutes at small sizes; full: the figures for docs/benchmarks.md (1M events).",
    DefaultValueFactory = _ => "quick",
};
mode.AcceptOnlyFromAmong("quick", "full");
var output = new Option<DirectoryInfo>("--output")
{
    Description = "Where each run writes its directory (benchmark.json, benchmark.md, service.log).",
    DefaultValueFactory = _ => new DirectoryInfo(Path.Combine(Environment.CurrentDirectory, "artifacts", "benchmarks")),
};
var profile = new Option<bool>("--profile")
{
    Description = "Also record pg_stat_statements per phase (statements-<phase>.txt in the run's directory); costs the server a little.",
};
var serviceEnvironment = new Option<string[]>("--service-env")
{
    Description = "NAME=VALUE set in the service's environment, for experiments (e.g. DOTNET_gcServer=0); the report lists them.",
    AllowMultipleArgumentsPerToken = false,
};
var rebuildOnly = new Option<bool>("--rebuild-only")
{
    Description = "Only fill the store to the mode's size and rebuild every read model (figure 5 and the memory during it), to iterate on rebuilds; no table.",
};
var ingestOnly = new Option<bool>("--ingest-only")
{
    Description = "Only fill the store and run the measured batch ingest (figure 2 with its CPU and allocations per event), to iterate on the write path; no table.",
};
var root = new RootCommand(
    "Measures the ledger against raw PostgreSQL on this machine: starts a throwaway PostgreSQL and the service, loads it, " +
    "and prints one table of figures and ratios (docs/benchmarks.md).")
{
    mode,
    output,
    profile,
    serviceEnvironment,
    rebuildOnly,
    ingestOnly,
};
root.SetAction(async (parse, invocationToken) =>
{
    // Ctrl+C and SIGTERM cancel the run, so the service and the cluster are stopped and removed on the way out.
    using var stop = CancellationTokenSource.CreateLinkedTokenSource(invocationToken);
    using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
    using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
    void Stop(PosixSignalContext context)
    {
        context.Cancel = true;
        stop.Cancel();
    }

    var settings = parse.GetValue(mode) == "full" ? BenchmarkSettings.Full : BenchmarkSettings.Quick;
    try
    {
        return await new BenchmarkRun(settings, parse.GetValue(output)!.FullName, parse.GetValue(profile), parse.GetValue(serviceEnvironment) ?? [], parse.GetValue(rebuildOnly), parse.GetValue(ingestOnly)).RunAsync(stop.Token);
    }
    catch (OperationCanceledException) when (stop.IsCancellationRequested)
    {
        Console.Error.WriteLine("Stopped; the service and the cluster were removed.");
        return 130;
    }
});
return await root.Parse(args).InvokeAsync();
