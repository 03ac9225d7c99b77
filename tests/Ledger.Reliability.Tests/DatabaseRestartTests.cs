using Ledger.Api.Access;
using Ledger.Reliability.Tests.Support;

namespace Ledger.Reliability.Tests;

/// <summary>
/// PostgreSQL stopped abruptly (<c>pg_ctl stop -m immediate</c>) under two service nodes taking load, then started again:
/// meanwhile every request is told 503 with Retry-After and none hangs; the nodes serve again within seconds of the
/// database's return; nothing acknowledged is lost; each projection ends with exactly one owner.
/// </summary>
public sealed class DatabaseRestartTests
{
    /// <summary>No request may take longer than this, outage or not: a correctness bound (a hang), not a performance target.</summary>
    private static readonly TimeSpan HangBound = TimeSpan.FromSeconds(10);

    /// <summary>How soon after the database accepts connections again each node must serve again.</summary>
    private static readonly TimeSpan RecoveryBound = TimeSpan.FromSeconds(5);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task An_abrupt_database_restart_under_load_answers_503_never_hangs_recovers_within_5_s_and_loses_nothing()
    {
        var summary = new RunSummary("database-restart");
        await using var cluster = await ReliabilityCluster.StartAsync(Ct);
        var adminKey = LedgerService.NewAdminKey();
        await using var a = await LedgerService.StartAsync(cluster, "node-a", adminKey, summary.Test, cancellationToken: Ct);
        await using var b = await LedgerService.StartAsync(cluster, "node-b", adminKey, summary.Test, cancellationToken: Ct);
        LedgerService[] nodes = [a, b];
        var lineKeys = await Keys.LineKeysAsync(cluster.Superuser);
        var reporting = await Keys.CreateAsync(cluster.Superuser, LedgerRole.Reporting);
        await Ownership.SettledAsync(cluster.Superuser, [a.NodeId, b.NodeId], TimeSpan.FromSeconds(60));

        var ingest = new Ingest(nodes, lineKeys, tag: "D1", ReliabilityMode.Writers, ReliabilityMode.UnitsPerWriter, seed: 8201);
        var probers = nodes.Select(n => new Prober(n, reporting, lineKeys["lathrop"], "P1")).ToArray();
        using var stop = new CancellationTokenSource();
        var running = ingest.RunAsync(stop.Token, Ct);
        var probing = probers.Select(p => p.RunAsync(stop.Token)).ToArray();

        var random = new Random(8201);
        var outages = new List<(DateTimeOffset Down, DateTimeOffset RestartBegun, DateTimeOffset Back)>();
        var recoveries = new List<TimeSpan>();
        for (var restart = 1; restart <= ReliabilityMode.DatabaseRestarts; restart++)
        {
            var target = ingest.EventsAcknowledged + 100 + random.Next(200);
            await Eventually.HoldsAsync(() => Task.FromResult(ingest.EventsAcknowledged >= target || running.IsCompleted),
                $"{target} events are acknowledged before restart {restart}", TimeSpan.FromMinutes(3));
            Assert.False(running.IsCompleted, "the writers still had work when the database went down");

            await cluster.CrashAsync(Ct);
            var down = DateTimeOffset.UtcNow;
            // The outage lasts long enough for every writer and probe to meet it several times.
            await Task.Delay(TimeSpan.FromMilliseconds(2000 + random.Next(ReliabilityMode.IsLong ? 6000 : 1500)), Ct);
            var restartBegun = DateTimeOffset.UtcNow;
            await cluster.RestartAsync(Ct);
            var back = DateTimeOffset.UtcNow;
            outages.Add((down, restartBegun, back));

            foreach (var prober in probers)
            {
                await Eventually.HoldsAsync(() => Task.FromResult(prober.FirstSuccessAfter(back) is not null),
                    $"{prober.Node.NodeId} serves again", TimeSpan.FromSeconds(60));
                recoveries.Add(prober.FirstSuccessAfter(back)!.Value - back);
            }
        }

        var afterLast = ingest.EventsAcknowledged + 100;
        await Eventually.HoldsAsync(() => Task.FromResult(ingest.EventsAcknowledged >= afterLast || running.IsCompleted),
            "writers go on after the database is back", TimeSpan.FromMinutes(3));
        await stop.CancelAsync();
        await running;
        await Task.WhenAll(probing);

        var attempts = ingest.Recorder.Attempts.Concat(probers.SelectMany(p => p.Attempts)).ToList();
        // Sent once the server was down and answered before it was being started again: nothing could have reached it.
        var duringOutage = attempts.Where(x => outages.Any(o => x.SentAt >= o.Down && x.SentAt + x.Duration <= o.RestartBegun)).ToList();
        var wrongOutageAnswers = duringOutage.Where(x => x.Status != 503 || x.RetryAfter is null || x.ContentType != "application/problem+json").ToList();
        var longest = attempts.Max(x => x.Duration);

        var owners = await Ownership.SettledAsync(cluster.Superuser, [a.NodeId, b.NodeId], TimeSpan.FromSeconds(60));
        var verdict = LedgerCheck.Compare(ingest.Recorder, await LedgerCheck.ReadEventsAsync(cluster.Superuser), serial => serial.Contains("-D1-", StringComparison.Ordinal));
        var chainFaults = await LedgerCheck.HashChainFaultsAsync(cluster.Superuser);
        await LedgerCheck.CaughtUpAsync(a, TimeSpan.FromMinutes(2));

        summary.Add("database restarts (pg_ctl stop -m immediate)", ReliabilityMode.DatabaseRestarts);
        summary.Add("service nodes", nodes.Length);
        summary.Add("outages", string.Join(", ", outages.Select(o => RunSummary.FormatSeconds(o.Back - o.Down))));
        summary.Add("requests answered during outages", duringOutage.Count);
        summary.Add("of which not 503 + Retry-After + problem+json", wrongOutageAnswers.Count);
        summary.Add("time to serve again after the database is back, per node", string.Join(", ", recoveries.Select(RunSummary.FormatSeconds)));
        summary.Add("longest request (bound 10 s)", longest);
        summary.Add("slowest requests (start relative to the outage, answer)", string.Join("; ", attempts.OrderByDescending(x => x.Duration).Take(3)
            .Select(x => $"{RunSummary.FormatSeconds(x.Duration)} from {RunSummary.FormatSeconds(x.SentAt - outages[0].Down)}: {x.Status} {x.Error}")));
        summary.Add("probe requests", probers.Sum(p => p.Attempts.Count));
        ingest.Recorder.AddTo(summary);
        verdict.AddTo(summary);
        summary.Add("hash chain faults", chainFaults.Count);
        summary.Add("projection owners afterwards", string.Join("; ", owners));
        summary.Publish();

        Assert.NotEmpty(duringOutage);
        Assert.True(wrongOutageAnswers.Count == 0, "answers during the outage that were not 503 with Retry-After as problem+json: "
            + string.Join("; ", wrongOutageAnswers.Take(10)));
        Assert.True(longest <= HangBound, $"a request took {longest} (bound {HangBound})");
        Assert.All(recoveries, r => Assert.True(r <= RecoveryBound, $"a node served again only {r} after the database was back (bound {RecoveryBound})"));
        verdict.AssertHolds();
        Assert.Empty(chainFaults);
        Assert.DoesNotContain(attempts, x => x.Status == 500);
    }
}
