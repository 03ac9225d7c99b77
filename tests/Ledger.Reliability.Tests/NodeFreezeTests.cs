using System.Diagnostics;
using Ledger.Reliability.Tests.Support;

namespace Ledger.Reliability.Tests;

/// <summary>
/// Three service processes on one database while line systems post: the node that owns the projections is frozen
/// (SIGSTOP) for 30 s and then resumed (SIGCONT). A frozen process keeps its TCP connections, so PostgreSQL cannot tell it
/// from a live one by the socket; another node must still take each of its projections over within 10 s, the resumed node
/// must not run them again beside the new owner, and the read models must keep advancing to the stored head and end equal
/// to an independent fold of the stored history (nothing applied twice, nothing skipped).
/// </summary>
public sealed class NodeFreezeTests
{
    /// <summary>How soon another node must own a frozen owner's projections: a correctness bound, not a tuning target.</summary>
    private static readonly TimeSpan TakeoverBound = TimeSpan.FromSeconds(10);

    /// <summary>How long the owner stays frozen (issue 13): three times the bound, so a takeover cannot wait for the resume.</summary>
    private static readonly TimeSpan Freeze = TimeSpan.FromSeconds(30);

    /// <summary>How long ownership is watched after the resume for a second owner or a flap back to the resumed node.</summary>
    private static readonly TimeSpan WatchAfterResume = TimeSpan.FromSeconds(20);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Freezing_the_projection_owner_for_30_s_hands_its_projections_over_within_10_s_and_after_the_resume_they_run_once_and_equal_the_reference()
    {
        var summary = new RunSummary("node-freeze");
        await using var cluster = await ReliabilityCluster.StartAsync(Ct);
        var adminKey = LedgerService.NewAdminKey();
        await using var a = await LedgerService.StartAsync(cluster, "node-a", adminKey, summary.Test, cancellationToken: Ct);
        await using var b = await LedgerService.StartAsync(cluster, "node-b", adminKey, summary.Test, cancellationToken: Ct);
        await using var c = await LedgerService.StartAsync(cluster, "node-c", adminKey, summary.Test, cancellationToken: Ct);
        LedgerService[] nodes = [a, b, c];
        var all = nodes.Select(n => n.NodeId).ToList();
        var settled = await Ownership.SettledAsync(cluster.Superuser, all, TimeSpan.FromSeconds(60));

        var ingest = new Ingest(nodes, await Keys.LineKeysAsync(cluster.Superuser), tag: "F1", ReliabilityMode.Writers, ReliabilityMode.UnitsPerWriter, seed: 8311);
        using var stop = new CancellationTokenSource();
        var running = ingest.RunAsync(stop.Token, Ct);
        // Nodes that answer keep what they own: the heartbeat is far cheaper than the ownership timeout, also under load.
        var changesBeforeFreeze = new List<string>();
        var warmUp = Stopwatch.StartNew();
        while (ingest.EventsAcknowledged < 300 && !running.IsCompleted && warmUp.Elapsed < TimeSpan.FromMinutes(3))
        {
            foreach (var owner in await Ownership.ReadAsync(cluster.Superuser))
            {
                if (owner.HolderNode != settled.Single(o => o.Name == owner.Name).HolderNode) changesBeforeFreeze.Add($"{owner} at {RunSummary.FormatSeconds(warmUp.Elapsed)}");
            }

            await Task.Delay(100, Ct);
        }

        Assert.True(ingest.EventsAcknowledged >= 300, "the writers got well under way");
        Assert.False(running.IsCompleted, "the writers still had work when the owner was frozen");

        // The node owning the most projections (the first of them on a tie) is "the one that owns the projections".
        var owners = await Ownership.SettledAsync(cluster.Superuser, all, TimeSpan.FromSeconds(60));
        var victimId = owners.GroupBy(o => o.HolderNode!).OrderByDescending(g => g.Count()).ThenBy(g => g.Min(o => o.Name), StringComparer.Ordinal).First().Key;
        var victim = nodes.Single(n => n.NodeId == victimId);
        var itsProjections = owners.Where(o => o.HolderNode == victimId).Select(o => o.Name).ToList();
        var survivors = nodes.Where(n => n != victim).Select(n => n.NodeId).ToList();

        await victim.FreezeAsync();
        var clock = Stopwatch.StartNew();
        var takeovers = new Dictionary<string, TimeSpan>();
        var doubleHolders = new List<string>();
        var flapsBack = new List<string>();
        var batchesByTheResumed = new List<string>();
        var committedByNewOwner = new HashSet<string>(StringComparer.Ordinal);
        var ackedAtFreeze = ingest.EventsAcknowledged;
        long ackedAtResume = 0;
        var resumedAt = TimeSpan.Zero;
        while (clock.Elapsed < Freeze + WatchAfterResume)
        {
            if (victim.IsFrozen && clock.Elapsed >= Freeze)
            {
                ackedAtResume = ingest.EventsAcknowledged;
                await victim.ResumeAsync();
                resumedAt = clock.Elapsed;
            }

            var now = clock.Elapsed;
            foreach (var owner in await Ownership.ReadAsync(cluster.Superuser))
            {
                var at = RunSummary.FormatSeconds(now);
                if (owner.Holders > 1) doubleHolders.Add($"{owner} at {at}");
                if (!itsProjections.Contains(owner.Name)) continue;
                if (!takeovers.ContainsKey(owner.Name) && owner.IsSingleOwner(survivors)) takeovers[owner.Name] = now;
                if (takeovers.ContainsKey(owner.Name) && owner.HolderNode == victimId) flapsBack.Add($"{owner} at {at}");
                // The status row names the node that committed the read model's last batch: once a survivor has, the
                // resumed node's name there again means it committed a batch beside the new owner.
                if (owner.StatusOwner is { } committer && survivors.Contains(committer)) committedByNewOwner.Add(owner.Name);
                if (committedByNewOwner.Contains(owner.Name) && owner.StatusOwner == victimId) batchesByTheResumed.Add($"{owner} at {at}");
            }

            await Task.Delay(25, Ct);
        }

        var afterResume = ingest.EventsAcknowledged + 200;
        await Eventually.HoldsAsync(() => Task.FromResult(ingest.EventsAcknowledged >= afterResume || running.IsCompleted),
            "the writers go on with three nodes again", TimeSpan.FromMinutes(3));
        await stop.CancelAsync();
        await running;

        var verdict = LedgerCheck.Compare(ingest.Recorder, await LedgerCheck.ReadEventsAsync(cluster.Superuser), serial => serial.Contains("-F1-", StringComparison.Ordinal));
        // Caught up as the resumed node itself reports it: it serves again, and the read models reached the stored head.
        await LedgerCheck.CaughtUpAsync(victim, TimeSpan.FromMinutes(2));
        var after = await Ownership.SettledAsync(cluster.Superuser, all, TimeSpan.FromSeconds(60));
        var mismatches = await LedgerCheck.ReadModelsAgainstTheReferenceAsync(cluster.Superuser);
        var victimLog = victim.ReadLog();
        var victimErrors = LedgerService.LinesAt(victimLog, "fail", "crit").ToList();

        summary.Add("service nodes", nodes.Length);
        summary.Add("ownership changes among answering nodes before the freeze", $"{changesBeforeFreeze.Count} in {RunSummary.FormatSeconds(warmUp.Elapsed)}");
        summary.Add("owners when the owner was frozen", string.Join("; ", owners.Select(o => $"{o.Name}@{o.HolderNode}")));
        summary.Add("frozen (SIGSTOP)", $"{victimId}, owner of {string.Join(", ", itsProjections)}, for {RunSummary.FormatSeconds(resumedAt)}");
        summary.Add("takeover time per projection (bound 10 s)", string.Join(", ", itsProjections.Select(p =>
            $"{p} {(takeovers.TryGetValue(p, out var t) ? RunSummary.FormatSeconds(t) : "none while frozen or after")}")));
        summary.Add("events acknowledged while frozen", ackedAtResume - ackedAtFreeze);
        summary.Add("moments with two lock holders", doubleHolders.Count);
        summary.Add("its projections' locks back on the resumed node", flapsBack.Count);
        summary.Add("batches committed by the resumed node after the takeover", batchesByTheResumed.Count);
        summary.Add("owners after", string.Join("; ", after.Select(o => $"{o.Name}@{o.HolderNode}")));
        summary.Add("error lines in the resumed node's log", victimErrors.Count);
        ingest.Recorder.AddTo(summary);
        verdict.AddTo(summary);
        summary.Add("read model answers differing from the reference fold", mismatches.Count);
        summary.Publish();

        Assert.True(changesBeforeFreeze.Count == 0, "a node that answered lost a projection: " + string.Join("; ", changesBeforeFreeze.Take(10)));
        Assert.NotEmpty(itsProjections);
        Assert.All(itsProjections, p => Assert.True(takeovers.TryGetValue(p, out var t) && t <= TakeoverBound,
            $"{p} was taken over after {(takeovers.TryGetValue(p, out var s) ? s : "never")} (bound {TakeoverBound})"));
        Assert.True(doubleHolders.Count == 0, "two sessions held a projection's lock: " + string.Join("; ", doubleHolders.Take(10)));
        Assert.True(flapsBack.Count == 0, "the resumed node took a projection back: " + string.Join("; ", flapsBack.Take(10)));
        Assert.True(batchesByTheResumed.Count == 0, "the resumed node committed batches of a projection it had lost: " + string.Join("; ", batchesByTheResumed.Take(10)));
        verdict.AssertHolds();
        Assert.True(mismatches.Count == 0, string.Join(Environment.NewLine, mismatches));
        Assert.DoesNotContain(ingest.Recorder.Attempts, x => x.Status == 500);
    }
}
