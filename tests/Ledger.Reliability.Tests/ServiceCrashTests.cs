using System.Diagnostics;
using Ledger.Reliability.Tests.Support;

namespace Ledger.Reliability.Tests;

/// <summary>
/// kill -9 of the service process while line systems post batches: whatever the ledger acknowledged is there exactly
/// once, no batch is there in part, the hash chains are intact, no event committed after Marten's high-water mark had
/// passed its position, and after the restarts the read models equal both an independent fold of every stored event and
/// a rebuild from scratch.
/// </summary>
public sealed class ServiceCrashTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Killing_the_service_under_ingest_loses_and_doubles_nothing_and_leaves_no_batch_in_part()
    {
        var summary = new RunSummary("service-kill");
        await using var cluster = await ReliabilityCluster.StartAsync(Ct);
        await HighWaterWitness.PrepareAsync(cluster);
        await using var node = await LedgerService.StartAsync(cluster, "node-a", LedgerService.NewAdminKey(), summary.Test, cancellationToken: Ct);
        await HighWaterWitness.InstallAsync(cluster.Superuser);
        var ingest = new Ingest([node], await Keys.LineKeysAsync(cluster.Superuser), tag: "K1",
            ReliabilityMode.Writers, ReliabilityMode.UnitsPerWriter, seed: 8101);

        using var stop = new CancellationTokenSource();
        var running = ingest.RunAsync(stop.Token, Ct);
        var random = new Random(8101);
        var restarts = new List<TimeSpan>();
        for (var kill = 1; kill <= ReliabilityMode.ServiceKills; kill++)
        {
            // Faults land where the writers are busy: after a number of further acknowledged events, not after a set time.
            var target = ingest.EventsAcknowledged + 100 + random.Next(200);
            await Eventually.HoldsAsync(() => Task.FromResult(ingest.EventsAcknowledged >= target || running.IsCompleted),
                $"{target} events are acknowledged before kill {kill}", TimeSpan.FromMinutes(3));
            Assert.False(running.IsCompleted, "the writers still had work when the kill came (raise UnitsPerWriter)");
            await Task.Delay(random.Next(150), Ct);

            await node.KillAsync();
            var clock = Stopwatch.StartNew();
            await node.StartAsync(Ct);
            restarts.Add(clock.Elapsed);
        }

        var afterLast = ingest.EventsAcknowledged + 100;
        await Eventually.HoldsAsync(() => Task.FromResult(ingest.EventsAcknowledged >= afterLast || running.IsCompleted),
            "writers go on after the last restart", TimeSpan.FromMinutes(3));
        await stop.CancelAsync();
        await running;

        var verdict = LedgerCheck.Compare(ingest.Recorder, await LedgerCheck.ReadEventsAsync(cluster.Superuser), serial => serial.Contains("-K1-", StringComparison.Ordinal));
        var chainFaults = await LedgerCheck.HashChainFaultsAsync(cluster.Superuser);

        await LedgerCheck.CaughtUpAsync(node, TimeSpan.FromMinutes(2));
        // The kill -9 runs left stored events inside ranges Marten recorded as skipped (mt_high_water_skips): these two
        // checks tell whether any of them was missed by the read models (docs/reliability.md, "Marten's skipped ranges").
        var highWater = await HighWaterWitness.CheckAsync(cluster.Superuser);
        var mismatches = await LedgerCheck.ReadModelsAgainstTheReferenceAsync(cluster.Superuser);
        var live = await LedgerCheck.SnapshotReadModelsAsync(cluster.Superuser);
        await LedgerCheck.RebuildAllAsync(node, TimeSpan.FromMinutes(3));
        var rebuilt = await LedgerCheck.SnapshotReadModelsAsync(cluster.Superuser);
        var differing = live.Keys.Where(t => live[t] != rebuilt[t]).ToList();

        summary.Add("kills (SIGKILL under ingest)", ReliabilityMode.ServiceKills);
        summary.Add("restart to healthy, each", string.Join(", ", restarts.Select(RunSummary.FormatSeconds)));
        ingest.Recorder.AddTo(summary);
        verdict.AddTo(summary);
        summary.Add("hash chain faults", chainFaults.Count);
        highWater.AddTo(summary);
        summary.Add("read model answers differing from the reference fold", mismatches.Count);
        summary.Add("read model tables differing from a fresh rebuild", differing.Count);
        summary.Add("read model rows compared", live.Values.Sum(t => t.Length == 0 ? 0 : t.Count(c => c == '\n') + 1));
        await LedgerCheck.VerifyAuditTrailAsync(node, summary);
        summary.Publish();

        verdict.AssertHolds();
        Assert.Empty(chainFaults);
        Assert.True(highWater.CommittedBehindTheMark.Count == 0, string.Join(Environment.NewLine, highWater.CommittedBehindTheMark.Take(20)));
        Assert.True(mismatches.Count == 0, string.Join(Environment.NewLine, mismatches));
        Assert.True(differing.Count == 0, "read models that differ from a fresh rebuild: " + string.Join(", ", differing));
        Assert.DoesNotContain(ingest.Recorder.Attempts, a => a.Status == 500);
    }
}
