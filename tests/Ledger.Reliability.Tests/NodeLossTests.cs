using System.Diagnostics;
using Ledger.Reliability.Tests.Support;

namespace Ledger.Reliability.Tests;

/// <summary>
/// Three service processes on one database while line systems post: the node that owns the projections is killed -9;
/// another takes each of its projections over within 10 seconds, and the read models end equal to an independent fold of
/// the stored history (nothing applied twice, nothing skipped).
/// </summary>
public sealed class NodeLossTests
{
    /// <summary>How soon another node must own a dead owner's projections: a correctness bound, not a tuning target.</summary>
    private static readonly TimeSpan TakeoverBound = TimeSpan.FromSeconds(10);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Killing_the_projection_owner_of_three_nodes_hands_its_projections_over_within_10_s_and_the_read_models_equal_the_reference()
    {
        var summary = new RunSummary("node-loss");
        await using var cluster = await ReliabilityCluster.StartAsync(Ct);
        var adminKey = LedgerService.NewAdminKey();
        await using var a = await LedgerService.StartAsync(cluster, "node-a", adminKey, summary.Test, cancellationToken: Ct);
        await using var b = await LedgerService.StartAsync(cluster, "node-b", adminKey, summary.Test, cancellationToken: Ct);
        await using var c = await LedgerService.StartAsync(cluster, "node-c", adminKey, summary.Test, cancellationToken: Ct);
        LedgerService[] nodes = [a, b, c];
        await Ownership.SettledAsync(cluster.Superuser, [.. nodes.Select(n => n.NodeId)], TimeSpan.FromSeconds(60));

        var ingest = new Ingest(nodes, await Keys.LineKeysAsync(cluster.Superuser), tag: "N1", ReliabilityMode.Writers, ReliabilityMode.UnitsPerWriter, seed: 8301);
        using var stop = new CancellationTokenSource();
        var running = ingest.RunAsync(stop.Token, Ct);
        await Eventually.HoldsAsync(() => Task.FromResult(ingest.EventsAcknowledged >= 300 || running.IsCompleted),
            "the writers are well under way", TimeSpan.FromMinutes(3));
        Assert.False(running.IsCompleted, "the writers still had work when the owner was killed");

        // The node owning the most projections (the first of them on a tie) is "the one that owns the projections".
        var owners = await Ownership.SettledAsync(cluster.Superuser, [.. nodes.Select(n => n.NodeId)], TimeSpan.FromSeconds(60));
        var victimId = owners.GroupBy(o => o.HolderNode!).OrderByDescending(g => g.Count()).ThenBy(g => g.Min(o => o.Name), StringComparer.Ordinal).First().Key;
        var victim = nodes.Single(n => n.NodeId == victimId);
        var itsProjections = owners.Where(o => o.HolderNode == victimId).Select(o => o.Name).ToList();
        var survivors = nodes.Where(n => n != victim).Select(n => n.NodeId).ToList();

        await victim.KillAsync();
        var clock = Stopwatch.StartNew();
        var takeovers = new Dictionary<string, TimeSpan>();
        while (takeovers.Count < itsProjections.Count && clock.Elapsed < TimeSpan.FromSeconds(60))
        {
            foreach (var owner in await Ownership.ReadAsync(cluster.Superuser))
            {
                if (itsProjections.Contains(owner.Name) && !takeovers.ContainsKey(owner.Name) && owner.IsSingleOwner(survivors))
                {
                    takeovers[owner.Name] = clock.Elapsed;
                }
            }

            await Task.Delay(25, Ct);
        }

        var afterKill = ingest.EventsAcknowledged + 200;
        await Eventually.HoldsAsync(() => Task.FromResult(ingest.EventsAcknowledged >= afterKill || running.IsCompleted),
            "the writers go on with two nodes", TimeSpan.FromMinutes(3));
        await stop.CancelAsync();
        await running;

        var verdict = LedgerCheck.Compare(ingest.Recorder, await LedgerCheck.ReadEventsAsync(cluster.Superuser), serial => serial.Contains("-N1-", StringComparison.Ordinal));
        await LedgerCheck.CaughtUpAsync(a == victim ? b : a, TimeSpan.FromMinutes(2));
        var after = await Ownership.SettledAsync(cluster.Superuser, survivors, TimeSpan.FromSeconds(60));
        var mismatches = await LedgerCheck.ReadModelsAgainstTheReferenceAsync(cluster.Superuser);

        summary.Add("service nodes", nodes.Length);
        summary.Add("owners when the owner was killed", string.Join("; ", owners.Select(o => $"{o.Name}@{o.HolderNode}")));
        summary.Add("killed (SIGKILL)", $"{victimId}, owner of {string.Join(", ", itsProjections)}");
        summary.Add("takeover time per projection (bound 10 s)", string.Join(", ", itsProjections.Select(p =>
            $"{p} {(takeovers.TryGetValue(p, out var t) ? RunSummary.FormatSeconds(t) : "none within 60 s")}")));
        summary.Add("owners after", string.Join("; ", after.Select(o => $"{o.Name}@{o.HolderNode}")));
        ingest.Recorder.AddTo(summary);
        verdict.AddTo(summary);
        summary.Add("read model answers differing from the reference fold", mismatches.Count);
        summary.Publish();

        Assert.NotEmpty(itsProjections);
        Assert.All(itsProjections, p => Assert.True(takeovers.TryGetValue(p, out var t) && t <= TakeoverBound,
            $"{p} was taken over after {(takeovers.TryGetValue(p, out var s) ? s : "more than 60 s")} (bound {TakeoverBound})"));
        verdict.AssertHolds();
        Assert.True(mismatches.Count == 0, string.Join(Environment.NewLine, mismatches));
        Assert.DoesNotContain(ingest.Recorder.Attempts, x => x.Status == 500);
    }
}
