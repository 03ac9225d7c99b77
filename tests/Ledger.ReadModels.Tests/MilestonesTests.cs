using Ledger.ReadModels.Tests.Support;

namespace Ledger.ReadModels.Tests;

public sealed class MilestonesTests(ProjectedHistory history) : IClassFixture<ProjectedHistory>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task The_first_and_every_thousandth_unit_are_ranked_by_when_they_were_built_not_when_recorded()
    {
        var milestones = await MilestonesQuery.GetUnitMilestonesAsync(history.DataSource, cancellationToken: Ct);

        Assert.Equal(history.Reference.UnitMilestones(), milestones);
        Assert.Contains(milestones, m => m is { FactoryId: "shanghai", Nth: 1000 });
        Assert.Contains(milestones, m => m is { FactoryId: "lathrop", Nth: 1000 });
        // The history was appended shuffled: were milestones taken in recording order, these would differ.
        var firstRecorded = history.Feed.Where(e => e.Type == "unit-built.v1").Select(e => e.StreamId);
        Assert.NotEqual(firstRecorded.First(s => s.StartsWith("SHA", StringComparison.Ordinal)),
            milestones.Single(m => m is { FactoryId: "shanghai", Nth: 1 }).Serial);
    }

    [Fact]
    public async Task The_first_shipment_to_each_region_is_the_earliest_one_not_cancelled()
    {
        var firsts = await MilestonesQuery.GetFirstShipmentsAsync(history.DataSource, cancellationToken: Ct);

        Assert.Equal(history.Reference.FirstShipments(), firsts);
        Assert.Equal(["Australia", "China", "Europe"], firsts.Where(f => f.FactoryId == "shanghai").Select(f => f.Region));
    }

    [Fact]
    public async Task Milestones_can_be_asked_for_one_factory()
    {
        var shanghai = await MilestonesQuery.GetUnitMilestonesAsync(history.DataSource, "shanghai", Ct);

        Assert.Equal(history.Reference.UnitMilestones().Where(m => m.FactoryId == "shanghai"), shanghai);
    }
}
