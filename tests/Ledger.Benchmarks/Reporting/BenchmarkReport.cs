using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Ledger.Benchmarks.Infrastructure;
using Ledger.Benchmarks.Phases;

namespace Ledger.Benchmarks.Reporting;

/// <summary>The machine and server the figures come from.</summary>
internal sealed record MachineInfo(
    int Cores, long MemoryMegabytes, string CpuModel, string OperatingSystem, string Runtime, string PostgresVersion,
    IReadOnlyDictionary<string, string> PostgresSettings, string LoadAverageAtStart, string LoadAverageAtEnd);

/// <summary>
/// The service's memory, in MiB as /proc gives it: its peak resident set during the two measured ingests (2 and 3, their
/// catch-ups included; issue 15, P6) and over the whole run (rebuild included), and what it allocated per event it appended.
/// </summary>
internal sealed record MemoryResult(
    double IngestPeakRssMegabytes, double PeakRssMegabytes, double RssAtEndMegabytes, double BatchBytesPerEvent, double SingleBytesPerEvent,
    AllocationSnapshot AtEnd);

/// <summary>One row of the table: a measure, its value, the baseline it is compared with, and its target.</summary>
internal sealed record Figure(string Id, string Measure, string Value, string? Baseline, double? Ratio, string Target, bool? Met);

/// <summary>Everything one run measured, as printed and as written to JSON.</summary>
internal sealed record BenchmarkReport(
    string Mode, DateTimeOffset StartedAt, double DurationSeconds, MachineInfo Machine, RawResults Raw, MartenResults Marten, IngestResult BatchIngest,
    IngestResult SingleIngest, LagResult ProjectionLag, double LagDrainSeconds, QueryResult QueriesSmall, QueryResult QueriesLarge,
    RebuildResult Rebuild, MemoryResult Memory, JournalResult Journal, StartResult Starts, IReadOnlyDictionary<string, PhaseCpu> CpuSecondsByPhase,
    IReadOnlyDictionary<string, long> EventsByType, IReadOnlyList<string> Notes)
{
    public const string SameMachineNote =
        "The load generator runs on the same machine as the service and PostgreSQL, and takes CPU from both; " +
        "every ratio compares figures from this same run.";

    private static readonly JsonSerializerOptions JsonOptions = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    public IReadOnlyList<Figure> Figures()
    {
        static string N(double value) => value.ToString("N0", CultureInfo.InvariantCulture);
        static string F(double value, int decimals) => value.ToString("F" + decimals, CultureInfo.InvariantCulture);
        static double Ratio(double value, double baseline) => Math.Round(value / baseline, 3);
        // Issue 15 states P6 in MB (10^6 bytes); /proc gives KiB.
        static double Mb(double mebibytes) => mebibytes * 1.048576;
        var large = $"{N(QueriesLarge.StoreEvents)}";
        var figures = new List<Figure>
        {
            new("1a", "raw: 100-row INSERT per transaction, 8 connections",
                $"{N(Raw.Insert100RowsPerSecond)} rows/s (PostgreSQL CPU {N(Raw.Insert100PostgresMicrosecondsPerRow)} us/row)", null, null, "baseline", null),
            new("1b", "raw: one-row INSERT per transaction, 16 connections",
                $"{N(Raw.Insert1RowsPerSecond)} rows/s (PostgreSQL CPU {N(Raw.Insert1PostgresMicrosecondsPerRow)} us/row)", null, null, "baseline", null),
            new("1c", "raw: binary COPY", $"{N(Raw.CopyRowsPerSecond)} rows/s", null, null, "baseline", null),
            new("1d", $"raw: full scan of {N(Raw.CopyRows)} rows into the client", $"{N(Raw.ScanRowsPerSecond)} rows/s", null, null, "baseline", null),
            Marten1("1e", "bare Marten: Quick append, 100-event sessions, 8 clients", Marten.QuickBatch, "1a", Raw.Insert100RowsPerSecond),
            Marten1("1f", "bare Marten: Quick + inline projection, 100-event sessions, 8 clients", Marten.InlineBatch, "1a",
                Raw.Insert100RowsPerSecond),
            Marten1("1g", "bare Marten: Quick append, one-event sessions, 64 clients", Marten.QuickSingle, "1b", Raw.Insert1RowsPerSecond),
            Marten1("1h", "bare Marten: Quick + inline projection, one-event sessions, 64 clients", Marten.InlineSingle, "1b",
                Raw.Insert1RowsPerSecond),
            new("1i", $"bare Marten: async daemon rebuild of one flat-table projection over {N(Marten.Rebuild.Events)} events",
                (Marten.Rebuild.Finished ? $"{N(Marten.Rebuild.EventsPerSecond)} events/s ({F(Marten.Rebuild.Seconds, 1)} s; "
                    : $"< {N(Marten.Rebuild.EventsPerSecond)} events/s (not finished in {F(Marten.Rebuild.Seconds, 0)} s; ") +
                $"PostgreSQL CPU {N(Marten.Rebuild.PostgresMicrosecondsPerEvent)} us/event, client {N(Marten.Rebuild.ClientMicrosecondsPerEvent)} us/event)",
                "1d", Ratio(Marten.Rebuild.EventsPerSecond, Raw.ScanRowsPerSecond), "baseline", null),
            new("2", "HTTP batch ingest: 100 events per request, 8 connections",
                $"{N(BatchIngest.EventsPerSecond)} events/s (request p50 {F(BatchIngest.LatencyMs.P50, 1)} ms, p99 {F(BatchIngest.LatencyMs.P99, 1)} ms)",
                "1a", Ratio(BatchIngest.EventsPerSecond, Raw.Insert100RowsPerSecond), "P1: >= 0.5 x 1a",
                BatchIngest.EventsPerSecond / Raw.Insert100RowsPerSecond >= 0.5),
            // Issue 15, P1: the ledger, doing more per event, should still beat what a team gets from Marten alone.
            new("2m", "HTTP batch ingest (2) against bare Marten Quick + inline", $"{N(BatchIngest.EventsPerSecond)} events/s", "1f",
                Ratio(BatchIngest.EventsPerSecond, Marten.InlineBatch.EventsPerSecond), "P1: >= 1.5 x 1f",
                BatchIngest.EventsPerSecond / Marten.InlineBatch.EventsPerSecond >= 1.5),
            new("3a", "HTTP single-event ingest: 64 connections", $"{N(SingleIngest.EventsPerSecond)} events/s", "1b",
                Ratio(SingleIngest.EventsPerSecond, Raw.Insert1RowsPerSecond), "P2: >= 1.0 x 1b",
                SingleIngest.EventsPerSecond / Raw.Insert1RowsPerSecond >= 1.0),
            new("3m", "HTTP single-event ingest (3a) against bare Marten Quick + inline", $"{N(SingleIngest.EventsPerSecond)} events/s", "1h",
                Ratio(SingleIngest.EventsPerSecond, Marten.InlineSingle.EventsPerSecond), "reported", null),
            new("3b", "HTTP single-event latency p50 / p95 / p99",
                $"{F(SingleIngest.LatencyMs.P50, 1)} / {F(SingleIngest.LatencyMs.P95, 1)} / {F(SingleIngest.LatencyMs.P99, 1)} ms", null, null,
                "P2: p99 <= 20 ms", SingleIngest.LatencyMs.P99 <= 20),
            new("4", "async projection lag during 3: p50 / p99",
                $"{N(ProjectionLag.Seconds.P50 * 1000)} / {N(ProjectionLag.Seconds.P99 * 1000)} ms (drained {F(LagDrainSeconds, 1)} s after the load)", null, null,
                "P4: p99 <= 250 ms", ProjectionLag.Seconds.P99 <= 0.25),
            new("5", $"rebuild of all projections over {N(Rebuild.Events)} events",
                Rebuild.Finished
                    ? $"{N(Rebuild.EventsPerSecond)} events/s ({F(Rebuild.Seconds, 1)} s)"
                    : $"< {N(Rebuild.EventsPerSecond)} events/s (not finished in {F(Rebuild.Seconds / 60, 0)} min)", "1d",
                Ratio(Rebuild.EventsPerSecond, Raw.ScanRowsPerSecond), "P3: >= 200,000 events/s", Rebuild.Finished && Rebuild.EventsPerSecond >= 200_000),
            // Issue 15, P3: the target is absolute; what Marten's own daemon does on the same machine is its reference.
            new("5m", "rebuild of all projections (5) against bare Marten's daemon rebuild", $"{N(Rebuild.EventsPerSecond)} events/s", "1i",
                Ratio(Rebuild.EventsPerSecond, Marten.Rebuild.EventsPerSecond), "reported", null),
        };
        figures.AddRange(Query("6a", "unit status", QueriesSmall.UnitStatus, QueriesLarge.UnitStatus));
        figures.AddRange(Query("6b", "factory throughput, a year by day", QueriesSmall.FactoryThroughput, QueriesLarge.FactoryThroughput));
        figures.AddRange(Query("6c", "deployments by region by quarter", QueriesSmall.Deployments, QueriesLarge.Deployments));
        // Not a query: the same client and connection asking GET /health/live (no key, no database) in the same rounds,
        // so a reader can tell the machine's share of 6a-6c's p99 from the service's.
        figures.Add(new("6f", $"floor, GET /health/live measured as 6a-6c: p50 / p99 at {N(QueriesSmall.StoreEvents)} / {large} events",
            $"{F(QueriesSmall.Floor.P50, 2)} / {F(QueriesSmall.Floor.P99, 2)} ms; {F(QueriesLarge.Floor.P50, 2)} / {F(QueriesLarge.Floor.P99, 2)} ms",
            null, null, "reported", null));
        figures.Add(new("7a", "service peak RSS during 2 and 3 (VmHWM, catch-ups included)",
            $"{N(Mb(Memory.IngestPeakRssMegabytes))} MB ({N(Memory.IngestPeakRssMegabytes)} MiB)", null, null, "P6: <= 300 MB",
            Mb(Memory.IngestPeakRssMegabytes) <= 300));
        figures.Add(new("7b", "service allocations per appended event: batch (2) / single (3)",
            $"{N(Memory.BatchBytesPerEvent)} / {N(Memory.SingleBytesPerEvent)} bytes", null, null, "reported", null));
        figures.Add(new("7c", "service peak RSS, whole run (VmHWM, rebuild included)",
            $"{N(Mb(Memory.PeakRssMegabytes))} MB ({N(Memory.PeakRssMegabytes)} MiB)", null, null, "reported", null));
        // The target holds for every start, so the slowest one decides.
        figures.Add(new("8", $"service start to first 200 of /health/ready, filled store, {Starts.Seconds.Count} starts: median / max",
            $"{F(Starts.Median, 2)} / {F(Starts.Max, 2)} s (first answer of any status: median {F(Starts.AnsweringMedian, 2)} s)", null, null, "P7: <= 3 s (max)", Starts.Seconds.Count > 0 && Starts.Max <= 3));
        figures.Add(new("9", "integration events: journal holds every unit notification, after 3's load",
            (Journal.Finished
                ? $"{N(Journal.Expected)} notifications; {N(Journal.Backlog)} behind at the load's end, all {F(Journal.SecondsAfterLoad, 1)} s after it"
                : $"{N(Journal.Journaled)} of {N(Journal.Expected)} notifications {F(Journal.SecondsAfterLoad, 0)} s after the load ({N(Journal.Backlog)} behind at its end)") +
            JournalCatchUpRate() + $"; commit-to-journal p50 / p99 {F(Journal.DelaySeconds.P50, 2)} / {F(Journal.DelaySeconds.P99, 2)} s; " +
            $"{N(Journal.Redeliveries)} redelivered{JournalCpu()}", null, null, "reported", null));
        return figures;

        // A journal that kept up leaves a backlog of one subscription batch or so: its wait lasts a fraction of a second,
        // and a rate or a CPU cost per notification over it would measure the wait's edges, not the journal.
        bool CaughtUpDuringLoad() => Journal.Finished && Journal.Backlog < JournalCatchUp.MeasurableBacklog;

        string JournalCatchUpRate() => CaughtUpDuringLoad()
            ? " (it kept up with the load: no catch-up to measure a rate or CPU per notification over)"
            : $", {N(Journal.PerSecond)}/s meanwhile";

        // What journaling one notification cost with no load running: the service's and PostgreSQL's CPU in the wait,
        // each divided by the notifications journaled since the load ended (the read models' drain, a second or two, is
        // in the count but not the CPU: under 1 % at the journal's rate). The journal's rate on a busy machine moves with
        // the neighbours; this far less.
        string JournalCpu()
        {
            var journaled = Journal.Journaled - Journal.AtLoadEnd;
            return !CaughtUpDuringLoad() && CpuSecondsByPhase.TryGetValue(JournalCatchUp.PhaseName, out var cpu) && journaled > 0
                ? $"; CPU {N(cpu.Service * 1e6 / journaled)} + {N(cpu.Postgres * 1e6 / journaled)} us per notification (service + PostgreSQL)"
                : "";
        }

        static Figure Marten1(string id, string measure, MartenRate rate, string rawId, double raw) => new(id, measure,
            $"{N(rate.EventsPerSecond)} events/s (PostgreSQL CPU {N(rate.PostgresMicrosecondsPerEvent)} us/event, client " +
            $"{N(rate.ClientMicrosecondsPerEvent)} us/event; SaveChanges p50 {F(rate.SaveChangesMs.P50, 1)} ms, p99 {F(rate.SaveChangesMs.P99, 1)} ms)",
            rawId, Ratio(rate.EventsPerSecond, raw), "baseline", null);

        IEnumerable<Figure> Query(string id, string name, Percentiles small, Percentiles big)
        {
            yield return new($"{id}", $"query {name}: p50 / p99 at {N(QueriesSmall.StoreEvents)} events",
                $"{F(small.P50, 2)} / {F(small.P99, 2)} ms", null, null, "reference", null);
            yield return new($"{id}'", $"query {name}: p50 / p99 at {large} events",
                $"{F(big.P50, 2)} / {F(big.P99, 2)} ms", $"{id}", Ratio(big.P99, small.P99), "P5: p99 <= 5 ms and <= 1.2 x",
                big.P99 <= 5 && big.P99 <= 1.2 * small.P99);
        }
    }

    public string ToText()
    {
        var figures = Figures();
        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture,
            $"Ledger benchmark, {Mode} mode, {StartedAt:yyyy-MM-dd HH:mm} UTC, {DurationSeconds / 60:F1} min");
        text.AppendLine(CultureInfo.InvariantCulture,
            $"Machine: {Machine.Cores} cores ({Machine.CpuModel}), {Machine.MemoryMegabytes / 1024.0:F0} GiB; {Machine.PostgresVersion}; " +
            $"load average {Machine.LoadAverageAtStart} at start, {Machine.LoadAverageAtEnd} at end");
        text.AppendLine(SameMachineNote);
        text.AppendLine();
        var widths = new[] { 3, figures.Max(f => f.Measure.Length), figures.Max(f => f.Value.Length), 8, 7, figures.Max(f => f.Target.Length), 4 };
        string Row(params string[] cells) => string.Join("  ", cells.Select((c, i) => c.PadRight(widths[i]))).TrimEnd();
        text.AppendLine(Row("#", "measure", "value", "vs", "ratio", "target", "met"));
        text.AppendLine(Row([.. widths.Select(w => new string('-', w))]));
        foreach (var f in figures)
        {
            text.AppendLine(Row(f.Id, f.Measure, f.Value, f.Baseline ?? "", f.Ratio?.ToString("F2", CultureInfo.InvariantCulture) ?? "", f.Target,
                f.Met switch { true => "yes", false => "NO", null => "" }));
        }

        text.AppendLine();
        text.AppendLine("CPU seconds by phase: service / PostgreSQL (all its processes, the daemon's work included) / load generator, in");
        text.AppendLine("wall seconds; for phases that append, CPU microseconds per appended event (service + PostgreSQL):");
        foreach (var (phase, cpu) in CpuSecondsByPhase)
        {
            var perEvent = cpu.Events > 0 ? $"   {cpu.ServiceMicrosecondsPerEvent:N0} + {cpu.PostgresMicrosecondsPerEvent:N0} us/event ({cpu.Events:N0} events)" : "";
            text.AppendLine(CultureInfo.InvariantCulture,
                $"  {phase,-28} {cpu.Service,7:F1} / {cpu.Postgres,7:F1} / {cpu.LoadGenerator,7:F1}   ({cpu.WallSeconds:F1} s){perEvent}");
        }

        foreach (var note in Notes) text.AppendLine("Note: " + note);
        return text.ToString();
    }

    /// <summary>The table as Markdown, for docs/benchmarks.md.</summary>
    public string ToMarkdown()
    {
        var text = new StringBuilder();
        text.AppendLine("| # | measure | value | vs | ratio | target | met |");
        text.AppendLine("|---|---|---|---|---|---|---|");
        foreach (var f in Figures())
        {
            text.AppendLine(CultureInfo.InvariantCulture,
                $"| {f.Id} | {f.Measure} | {f.Value} | {f.Baseline} | {f.Ratio?.ToString("F2", CultureInfo.InvariantCulture)} | {f.Target} | {f.Met switch { true => "yes", false => "**no**", null => "" }} |");
        }

        return text.ToString();
    }

    public string ToJson() => JsonSerializer.Serialize(new { report = this, figures = Figures() }, JsonOptions);
}

/// <summary>CPU seconds used during a phase by each party, and the phase's wall time.</summary>
/// <param name="Service">CPU seconds of the service process.</param>
/// <param name="Postgres">CPU seconds of every PostgreSQL process.</param>
/// <param name="LoadGenerator">CPU seconds of this program.</param>
/// <param name="WallSeconds">How long the phase took.</param>
/// <param name="Events">Events appended during the phase, for the phases that append.</param>
internal sealed record PhaseCpu(double Service, double Postgres, double LoadGenerator, double WallSeconds, long? Events = null)
{
    /// <summary>CPU microseconds per appended event: a figure that a busy machine distorts far less than throughput.</summary>
    public double? ServiceMicrosecondsPerEvent => Events > 0 ? Math.Round(Service * 1e6 / Events.Value) : null;

    public double? PostgresMicrosecondsPerEvent => Events > 0 ? Math.Round(Postgres * 1e6 / Events.Value) : null;
}
