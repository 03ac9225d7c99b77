using Ledger.EventStore;
using Ledger.EventStore.Projections;
using Ledger.Production.Factories;
using Ledger.Testing;
using Npgsql;

namespace Ledger.ReadModels.Tests.Support;

/// <summary>The read models run by the daemon, checked against the store and the in-memory <see cref="Reference"/>.</summary>
internal static class DaemonChecks
{
    public static readonly string[] ProjectionNames =
        [FactoryThroughputProjection.ProjectionName, MilestonesProjection.ProjectionName, DeploymentsProjection.ProjectionName];

    /// <summary>
    /// The units' appends, split among writers by unit (so each unit's events keep their stream order) and, as
    /// <see cref="History.AppendAsync"/> does, each unit's history in two appends in two rounds, in small chunks so that
    /// appending takes many transactions.
    /// </summary>
    public static IReadOnlyList<StreamAppend[]>[] Appends(IReadOnlyList<UnitHistory> units, int writers, int seed, int chunk = 10)
    {
        var random = new Random(seed);
        var shuffled = units.OrderBy(_ => random.Next()).ToArray();
        var splits = shuffled.ToDictionary(u => u.Serial, u => 1 + random.Next(u.Events.Count));
        return Enumerable.Range(0, writers).Select(w =>
        {
            var mine = shuffled.Where((_, i) => i % writers == w).ToArray();
            return (IReadOnlyList<StreamAppend[]>)new[] { 0, 1 }.SelectMany(round => mine
                    .Select(u => (u, events: round == 0 ? u.Events.Take(splits[u.Serial]) : u.Events.Skip(splits[u.Serial])))
                    .Where(x => x.events.Any())
                    .Select(x => new StreamAppend(x.u.Serial, ExpectedVersion.Any, x.events.Select(History.ToEventData).ToArray()))
                    .Chunk(chunk))
                .ToList();
        }).ToArray();
    }

    public static async Task<long> CountEventsAsync(NpgsqlDataSource dataSource)
    {
        await using var command = dataSource.CreateCommand("select count(*) from ledger.events");
        return (long)(await command.ExecuteScalarAsync(TestContext.Current.CancellationToken))!;
    }

    /// <summary>
    /// The whole feed, once every stored event is visible in it: an empty page is not the end while the feed's high-water
    /// mark still trails the last commits.
    /// </summary>
    public static async Task<IReadOnlyList<RecordedEvent>> ReadWholeFeedAsync(EventStore.EventStore store, NpgsqlDataSource dataSource)
    {
        var total = await CountEventsAsync(dataSource);
        var feed = new List<RecordedEvent>();
        var cursor = FeedCursor.Start;
        await Eventually.HoldsAsync(async () =>
        {
            for (var page = await store.ReadFeedAsync(cursor, 1000, cancellationToken: TestContext.Current.CancellationToken);
                 page.Events.Count > 0;
                 page = await store.ReadFeedAsync(cursor, 1000, cancellationToken: TestContext.Current.CancellationToken))
            {
                feed.AddRange(page.Events);
                cursor = page.Next;
            }

            return feed.Count >= total;
        }, "the whole feed is visible");
        Assert.Equal(total, feed.Count);
        return feed;
    }

    /// <summary>
    /// Waits until every projection's checkpoint is exactly at the last event of the feed with no lag, running.
    /// </summary>
    public static async Task CaughtUpAsync(ProjectionAdmin admin, FeedCursor last, TimeSpan timeout)
    {
        IReadOnlyList<ProjectionStatus> statuses = [];
        var cancellationToken = TestContext.Current.CancellationToken;
        await Eventually.HoldsAsync(async () =>
        {
            statuses = await admin.GetStatusAsync(cancellationToken);
            return ProjectionNames.All(name => statuses.SingleOrDefault(s => s.Name == name) is
                { LagEvents: 0, State: ProjectionState.Running } s && s.Cursor == last);
        }, "every projection's cursor is at the last event of the feed", timeout);
    }

    /// <summary>
    /// Every question the read models answer, for a representative set of arguments, equals the in-memory fold of the
    /// feed; and the totals equal the history's, so nothing was applied twice or left out.
    /// </summary>
    public static async Task AnswersEqualTheReferenceAsync(NpgsqlDataSource dataSource, Reference reference, IReadOnlyList<UnitHistory> units)
    {
        var cancellationToken = TestContext.Current.CancellationToken;
        var (from, to) = (new DateOnly(2024, 5, 15), new DateOnly(2025, 10, 9));
        long built = 0, tests = 0;
        foreach (var factory in new[] { FactorySeed.Lathrop, FactorySeed.Shanghai })
        {
            foreach (var bucket in new[] { CalendarBucket.Day, CalendarBucket.Month })
            {
                var rows = await FactoryThroughputQuery.GetAsync(dataSource, factory, from, to, bucket, cancellationToken);
                Assert.Equal(reference.Throughput(factory, from, to, bucket), rows);
                if (bucket == CalendarBucket.Day)
                {
                    built += rows.Sum(r => r.UnitsBuilt);
                    tests += rows.Sum(r => r.TestsPassed + r.TestsFailed);
                }
            }
        }

        Assert.Equal(units.Count, built);
        Assert.Equal(units.Sum(u => u.Events.Count(e => e.Event is Production.Units.UnitTested)), tests);

        var milestones = await MilestonesQuery.GetUnitMilestonesAsync(dataSource, cancellationToken: cancellationToken);
        Assert.Equal(reference.UnitMilestones(), milestones);
        foreach (var factory in units.GroupBy(u => ((Production.Units.UnitBuilt)u.Events[0].Event).FactoryId))
        {
            Assert.Equal(factory.Count() / 1000, milestones.Count(m => m.FactoryId == factory.Key && m.Nth >= 1000));
        }
        Assert.Equal(reference.FirstShipments(), await MilestonesQuery.GetFirstShipmentsAsync(dataSource, cancellationToken: cancellationToken));

        var (deployedFrom, deployedTo) = (new DateOnly(2024, 5, 1), new DateOnly(2025, 12, 31));
        var deployments = await DeploymentsQuery.GetAsync(
            dataSource, DeploymentGrouping.Country, CalendarBucket.Quarter, deployedFrom, deployedTo, cancellationToken: cancellationToken);
        Assert.Equal(reference.Deployments(DeploymentGrouping.Country, CalendarBucket.Quarter, deployedFrom, deployedTo, null), deployments);
        Assert.Contains(deployments, r => r.UnitsCommissioned > 0);
        var inTransit = await DeploymentsQuery.GetInTransitAsync(dataSource, DeploymentGrouping.Country, cancellationToken: cancellationToken);
        Assert.Equal(reference.InTransitNow(DeploymentGrouping.Country, null), inTransit);
        Assert.NotEmpty(inTransit);
    }
}
