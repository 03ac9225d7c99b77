using Ledger.Production.Geography;
using Ledger.Production.Units;
using Ledger.ReadModels.Tests.Support;

namespace Ledger.ReadModels.Tests;

/// <summary>
/// The comparisons with the reference prove little unless the history holds the cases that are easy to get wrong; this
/// pins that it does.
/// </summary>
public sealed class HistoryTests(ProjectedHistory history) : IClassFixture<ProjectedHistory>
{
    [Fact]
    public void The_generated_history_holds_the_hard_cases()
    {
        var feed = history.Feed;
        int Count(UnitEventType type) => feed.Count(e => e.Type == type.StoredName);

        Assert.Equal(history.Units, Count(UnitEvents.UnitBuilt));
        Assert.True(history.Units >= 3000);
        Assert.True(feed.Select(e => e.StreamId).Distinct().Count() == history.Units, "every unit is in the feed");
        Assert.True(Count(UnitEvents.UnitReworked) > 100, "reworks and retests");
        Assert.True(Count(UnitEvents.ShipmentCancelled) > 50, "cancelled shipments");
        Assert.True(Count(UnitEvents.UnitScrapped) > 50, "scrapped units");
        Assert.True(Count(UnitEvents.UnitCommissioned) > 500, "commissioned units");
        Assert.True(history.Reference.InTransit.Count > 20, "units still in transit");

        var builds = feed.Where(e => e.Type == UnitEvents.UnitBuilt.StoredName).ToList();
        Assert.True(builds.Zip(builds.Skip(1)).Count(p => p.Second.OccurredAt < p.First.OccurredAt) > 1000,
            "builds are recorded out of occurredAt order");
        var shanghaiLateEvenings = builds.Count(b => b.StreamId.StartsWith("SHA", StringComparison.Ordinal)
            && Reference.LocalDate("shanghai", b.OccurredAt) != DateOnly.FromDateTime(b.OccurredAt.UtcDateTime));
        var lathropLateEvenings = builds.Count(b => b.StreamId.StartsWith("LTH", StringComparison.Ordinal)
            && Reference.LocalDate("lathrop", b.OccurredAt) != DateOnly.FromDateTime(b.OccurredAt.UtcDateTime));
        Assert.True(shanghaiLateEvenings > 100 && lathropLateEvenings > 100, "local and UTC days differ for many builds");

        var regions = history.Reference.DeploymentDays.Keys.Select(k => k.Region).Distinct().ToHashSet();
        Assert.Superset(new HashSet<string> { MarketRegions.Europe, MarketRegions.Australia, MarketRegions.NorthAmerica }, regions);
    }
}
