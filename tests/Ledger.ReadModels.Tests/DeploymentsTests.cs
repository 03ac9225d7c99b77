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

    [Fact]
    public async Task The_monthly_roll_up_holds_the_daily_figures_summed_by_month()
    {
        Assert.True(await ScalarAsync("select count(*) from ledger.deployment_monthly") > 0);
        Assert.Equal(0L, await ScalarAsync(MonthlyDiffersFromDaily("ledger")));
    }

    [Fact]
    public async Task A_range_that_cuts_months_at_both_ends_counts_the_days_inside_it_and_the_whole_months_between()
    {
        var (from, to) = (new DateOnly(2024, 11, 20), new DateOnly(2025, 9, 12));

        foreach (var bucket in new[] { CalendarBucket.Month, CalendarBucket.Quarter, CalendarBucket.Year })
        {
            var rows = await DeploymentsQuery.GetAsync(history.DataSource, DeploymentGrouping.Site, bucket, from, to, cancellationToken: Ct);

            Assert.Equal(history.Reference.Deployments(DeploymentGrouping.Site, bucket, from, to, null), rows);
        }
    }

    /// <summary>
    /// Counts the rows in which <c>deployment_monthly</c> and <c>deployment_daily</c> summed by month differ (both ways), in
    /// <paramref name="schema"/>.
    /// </summary>
    internal static string MonthlyDiffersFromDaily(string schema) => $"""
        with by_month as (
            select date_trunc('month', day)::date as month, min(region) as region, country, site,
                   sum(units_shipped)::integer as units_shipped, sum(shipped_kwh) as shipped_kwh,
                   sum(units_delivered)::integer as units_delivered, sum(delivered_kwh) as delivered_kwh,
                   sum(units_commissioned)::integer as units_commissioned, sum(commissioned_kwh) as commissioned_kwh
            from {schema}.deployment_daily
            group by 1, 3, 4
        )
        select count(*) from (
            (table by_month except all table {schema}.deployment_monthly)
            union all
            (table {schema}.deployment_monthly except all table by_month)) difference
        """;

    private async Task<long> ScalarAsync(string sql)
    {
        await using var command = history.DataSource.CreateCommand(sql);
        return (long)(await command.ExecuteScalarAsync(Ct))!;
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
