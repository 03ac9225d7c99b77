using Ledger.Production.Geography;
using Ledger.ReadModels.Tests.Support;

namespace Ledger.ReadModels.Tests;

public sealed class DeploymentsTests(ProjectedHistory history) : IClassFixture<ProjectedHistory>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public static TheoryData<DeploymentGrouping, CalendarBucket, string?> Questions()
    {
        var data = new TheoryData<DeploymentGrouping, CalendarBucket, string?>();
        foreach (var groupBy in Enum.GetValues<DeploymentGrouping>())
        foreach (var bucket in new[] { CalendarBucket.Month, CalendarBucket.Quarter, CalendarBucket.Year })
        foreach (var region in new[] { null, MarketRegions.Europe })
            data.Add(groupBy, bucket, region);
        return data;
    }

    [Theory]
    [MemberData(nameof(Questions))]
    public async Task Shipped_delivered_and_commissioned_equal_the_in_memory_fold_of_the_history(
        DeploymentGrouping groupBy, CalendarBucket bucket, string? region)
    {
        var (from, to) = (new DateOnly(2024, 5, 1), new DateOnly(2025, 12, 31));

        var rows = await DeploymentsQuery.GetAsync(history.DataSource, groupBy, bucket, from, to, region, Ct);

        Assert.Equal(history.Reference.Deployments(groupBy, bucket, from, to, region), rows);
        Assert.Contains(rows, r => r.UnitsCommissioned > 0);
    }

    [Fact]
    public async Task A_range_that_cuts_a_quarter_counts_only_its_own_days()
    {
        var (from, to) = (new DateOnly(2025, 5, 17), new DateOnly(2025, 8, 3));

        var rows = await DeploymentsQuery.GetAsync(history.DataSource, DeploymentGrouping.Country, CalendarBucket.Quarter, from, to, cancellationToken: Ct);

        Assert.Equal(history.Reference.Deployments(DeploymentGrouping.Country, CalendarBucket.Quarter, from, to, null), rows);
    }

    [Theory]
    [InlineData(DeploymentGrouping.Region, null)]
    [InlineData(DeploymentGrouping.Country, null)]
    [InlineData(DeploymentGrouping.Site, null)]
    [InlineData(DeploymentGrouping.Site, MarketRegions.Australia)]
    public async Task In_transit_now_leaves_out_cancelled_delivered_and_scrapped_units(DeploymentGrouping groupBy, string? region)
    {
        var rows = await DeploymentsQuery.GetInTransitAsync(history.DataSource, groupBy, region, Ct);

        Assert.Equal(history.Reference.InTransitNow(groupBy, region), rows);
        Assert.NotEmpty(rows);
    }
}
