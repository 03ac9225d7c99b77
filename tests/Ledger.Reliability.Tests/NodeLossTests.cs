using System.Diagnostics;
using Ledger.EventStore;
using Ledger.Production.Factories;
using Ledger.ReadModels;
using Ledger.ReadModels.Tests.Support;
using Ledger.Reliability.Tests.Support;
using Npgsql;

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
        var mismatches = await ReadModelsAgainstTheReferenceAsync(cluster.Superuser);

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

    /// <summary>
    /// Every question the read models answer, asked of the tables the daemons kept, against <see cref="Reference"/>: an
    /// in-memory fold of the whole feed that shares no code with the projections. Their totals also equal the feed's, so
    /// an event applied twice or skipped shows.
    /// </summary>
    private static async Task<List<string>> ReadModelsAgainstTheReferenceAsync(NpgsqlDataSource superuser)
    {
        await using var store = new EventStore.EventStore(superuser);
        // The feed ends at the high-water mark: wait until it shows every committed event, so the reference is the whole
        // history (the projections, caught up, have applied all of it).
        await store.WaitForFeedAsync(await store.GetHeadPositionAsync(Ct), Ct);
        var feed = new List<RecordedEvent>();
        var cursor = FeedCursor.Start;
        for (var page = await store.ReadFeedAsync(cursor, 5000, cancellationToken: Ct); page.Events.Count > 0; page = await store.ReadFeedAsync(cursor, 5000, cancellationToken: Ct))
        {
            feed.AddRange(page.Events);
            cursor = page.Next;
        }

        var reference = Reference.Of(feed);
        var mismatches = new List<string>();
        void Compare<T>(string question, IReadOnlyList<T> expected, IReadOnlyList<T> actual)
        {
            if (!expected.SequenceEqual(actual)) mismatches.Add($"{question}: expected {expected.Count} rows, the read model has {actual.Count} (first difference: " +
                $"{expected.Zip(actual).Where(p => !Equals(p.First, p.Second)).Select(p => $"{p.First} vs {p.Second}").FirstOrDefault() ?? "in length"})");
        }

        var (from, to) = (new DateOnly(2025, 2, 1), new DateOnly(2025, 12, 31));
        long built = 0;
        foreach (var factory in new[] { FactorySeed.Lathrop, FactorySeed.Shanghai })
        {
            foreach (var bucket in new[] { CalendarBucket.Day, CalendarBucket.Month })
            {
                var rows = await FactoryThroughputQuery.GetAsync(superuser, factory, from, to, bucket, Ct);
                Compare($"{factory.Id} throughput by {bucket}", reference.Throughput(factory, from, to, bucket), rows);
                if (bucket == CalendarBucket.Day) built += rows.Sum(r => r.UnitsBuilt);
            }
        }

        var builtInFeed = feed.Count(e => e.Type == Production.Units.UnitEvents.UnitBuilt.StoredName);
        if (built != builtInFeed) mismatches.Add($"units built: the read model counts {built}, the feed holds {builtInFeed}");
        Compare("unit milestones", reference.UnitMilestones(), await MilestonesQuery.GetUnitMilestonesAsync(superuser, cancellationToken: Ct));
        Compare("first shipments", reference.FirstShipments(), await MilestonesQuery.GetFirstShipmentsAsync(superuser, cancellationToken: Ct));
        foreach (var grouping in new[] { DeploymentGrouping.Region, DeploymentGrouping.Country, DeploymentGrouping.Site })
        {
            Compare($"deployments by {grouping}", reference.Deployments(grouping, CalendarBucket.Quarter, from, to, null),
                await DeploymentsQuery.GetAsync(superuser, grouping, CalendarBucket.Quarter, from, to, cancellationToken: Ct));
            Compare($"in transit by {grouping}", reference.InTransitNow(grouping, null),
                await DeploymentsQuery.GetInTransitAsync(superuser, grouping, cancellationToken: Ct));
        }

        return mismatches;
    }
}
