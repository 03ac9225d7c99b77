namespace Ledger.Benchmarks;

/// <summary>How big and how long each phase is. Quick mode is a smoke run of about two minutes; full mode gives the figures in docs/benchmarks.md.</summary>
/// <param name="Mode">quick or full.</param>
/// <param name="WarmupSeconds">Load before measuring starts, in every timed phase.</param>
/// <param name="RawSeconds">Measured seconds of each raw INSERT baseline.</param>
/// <param name="SmallEvents">The store's size for the first round of queries (10k).</param>
/// <param name="LargeEvents">The store's size for the second round of queries and the rebuild; also the rows COPYed and scanned raw.</param>
/// <param name="BatchEvents">Events posted in the measured HTTP batch ingest.</param>
/// <param name="SingleSeconds">Measured seconds of HTTP single-event ingest (projection lag is sampled meanwhile).</param>
/// <param name="QueryRequests">Requests per query and store size.</param>
/// <param name="RebuildMinutes">How long the rebuild may take before the run reports it unfinished and goes on.</param>
/// <param name="JournalMinutes">How long the integration events' journal may take, after single-event ingest, to hold every
/// notification before the run reports it unfinished and goes on.</param>
/// <param name="Starts">Times the service is started again on the filled store to time start to ready (P7).</param>
internal sealed record BenchmarkSettings(
    string Mode, int WarmupSeconds, int RawSeconds, int SmallEvents, int LargeEvents, int BatchEvents, int SingleSeconds, int QueryRequests,
    int RebuildMinutes, int JournalMinutes, int Starts)
{
    public const int BatchConnections = 8;
    public const int EventsPerBatchRequest = 100;
    public const int SingleConnections = 64;

    public static BenchmarkSettings Quick { get; } = new("quick", WarmupSeconds: 2, RawSeconds: 5, SmallEvents: 10_000, LargeEvents: 100_000,
        BatchEvents: 30_000, SingleSeconds: 10, QueryRequests: 200, RebuildMinutes: 5,
        JournalMinutes: 10, Starts: 3);

    public static BenchmarkSettings Full { get; } = new("full", WarmupSeconds: 3, RawSeconds: 20, SmallEvents: 10_000, LargeEvents: 1_000_000,
        BatchEvents: 300_000, SingleSeconds: 30, QueryRequests: 1_000, RebuildMinutes: 20,
        JournalMinutes: 60, Starts: 5);
}
