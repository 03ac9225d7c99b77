using System.Diagnostics;
using Ledger.Reliability.Tests.Support;

namespace Ledger.Reliability.Tests;

/// <summary>
/// kill -9 of the service process while line systems post batches: whatever the ledger acknowledged is there exactly
/// once, no batch is there in part, the hash chains are intact, and after the restarts the read models equal a rebuild
/// from scratch.
/// </summary>
public sealed class ServiceCrashTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Killing_the_service_under_ingest_loses_and_doubles_nothing_and_leaves_no_batch_in_part()
    {
        var summary = new RunSummary("service-kill");
        await using var cluster = await ReliabilityCluster.StartAsync(Ct);
        await using var node = await LedgerService.StartAsync(cluster, "node-a", LedgerService.NewAdminKey(), summary.Test, cancellationToken: Ct);
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
        var live = await LedgerCheck.SnapshotReadModelsAsync(cluster.Superuser);
        await LedgerCheck.RebuildAllAsync(node, TimeSpan.FromMinutes(3));
        var rebuilt = await LedgerCheck.SnapshotReadModelsAsync(cluster.Superuser);
        var differing = live.Keys.Where(t => live[t] != rebuilt[t]).ToList();

        summary.Add("kills (SIGKILL under ingest)", ReliabilityMode.ServiceKills);
        summary.Add("restart to healthy, each", string.Join(", ", restarts.Select(RunSummary.FormatSeconds)));
        ingest.Recorder.AddTo(summary);
        verdict.AddTo(summary);
        summary.Add("hash chain faults", chainFaults.Count);
        summary.Add("read model tables differing from a fresh rebuild", differing.Count);
        summary.Add("read model rows compared", live.Values.Sum(t => t.Length == 0 ? 0 : t.Count(c => c == '\n') + 1));
        await LedgerCheck.VerifyAuditTrailAsync(node, summary);
        summary.Publish();

        verdict.AssertHolds();
        Assert.Empty(chainFaults);
        Assert.True(differing.Count == 0, "read models that differ from a fresh rebuild: " + string.Join(", ", differing));
        Assert.DoesNotContain(ingest.Recorder.Attempts, a => a.Status == 500);
    }
}
