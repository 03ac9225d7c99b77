namespace Ledger.Reliability.Tests.Support;

/// <summary>
/// How hard the suite pushes: the fast mode runs in CI (the whole suite in a few minutes on two cores); the long mode,
/// LEDGER_RELIABILITY=long, is run by hand before a release (docs/reliability.md). Every figure below is per test.
/// </summary>
internal static class ReliabilityMode
{
    public const string Variable = "LEDGER_RELIABILITY";

    public static bool IsLong { get; } =
        string.Equals(Environment.GetEnvironmentVariable(Variable), "long", StringComparison.OrdinalIgnoreCase);

    public static string Name => IsLong ? "long" : "fast";

    /// <summary>kill -9 of the service under ingest.</summary>
    public static int ServiceKills => IsLong ? 10 : 2;

    /// <summary>pg_ctl stop -m immediate and start under ingest.</summary>
    public static int DatabaseRestarts => IsLong ? 5 : 1;

    /// <summary>Concurrent line systems posting batches.</summary>
    public static int Writers => IsLong ? 8 : 4;

    /// <summary>Units each writer takes through their lives.</summary>
    public static int UnitsPerWriter => IsLong ? 600 : 120;

    /// <summary>Requests the fuzzer sends.</summary>
    public static int FuzzRequests => IsLong ? 100_000 : 3_000;

    /// <summary>Writers racing on one stream with If-Match.</summary>
    public static int RacingWriters => 100;

    /// <summary>The fuzzer's seed: LEDGER_FUZZ_SEED to replay another run, else fixed so that CI is repeatable.</summary>
    public static int FuzzSeed { get; } =
        int.TryParse(Environment.GetEnvironmentVariable("LEDGER_FUZZ_SEED"), out var seed) ? seed : 20250211;
}
