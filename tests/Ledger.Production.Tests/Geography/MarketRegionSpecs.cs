using Ledger.Production.Geography;

namespace Ledger.Production.Tests.Geography;

public sealed class MarketRegionSpecs
{
    [Theory]
    [InlineData("DE", MarketRegions.Europe)]
    [InlineData("GB", MarketRegions.Europe)]
    [InlineData("CH", MarketRegions.Europe)]
    [InlineData("NO", MarketRegions.Europe)]
    [InlineData("IS", MarketRegions.Europe)]
    [InlineData("LI", MarketRegions.Europe)]
    [InlineData("CY", MarketRegions.Europe)]
    [InlineData("TR", MarketRegions.Europe)]
    [InlineData("GE", MarketRegions.Europe)]
    [InlineData("UA", MarketRegions.Europe)]
    [InlineData("AU", MarketRegions.Australia)]
    [InlineData("NZ", MarketRegions.Australia)]
    [InlineData("NF", MarketRegions.Australia)]
    [InlineData("US", MarketRegions.NorthAmerica)]
    [InlineData("CA", MarketRegions.NorthAmerica)]
    [InlineData("MX", MarketRegions.NorthAmerica)]
    [InlineData("CN", MarketRegions.China)]
    [InlineData("HK", MarketRegions.China)]
    [InlineData("MO", MarketRegions.China)]
    [InlineData("TW", MarketRegions.AsiaPacific)]
    [InlineData("JP", MarketRegions.AsiaPacific)]
    [InlineData("KR", MarketRegions.AsiaPacific)]
    [InlineData("SG", MarketRegions.AsiaPacific)]
    [InlineData("IN", MarketRegions.AsiaPacific)]
    [InlineData("KZ", MarketRegions.AsiaPacific)]
    [InlineData("GU", MarketRegions.AsiaPacific)]
    [InlineData("AE", MarketRegions.MiddleEast)]
    [InlineData("SA", MarketRegions.MiddleEast)]
    [InlineData("IL", MarketRegions.MiddleEast)]
    [InlineData("IR", MarketRegions.MiddleEast)]
    [InlineData("BR", MarketRegions.LatinAmerica)]
    [InlineData("CL", MarketRegions.LatinAmerica)]
    [InlineData("PR", MarketRegions.LatinAmerica)]
    [InlineData("ZA", MarketRegions.Africa)]
    [InlineData("EG", MarketRegions.Africa)]
    [InlineData("MA", MarketRegions.Africa)]
    [InlineData("AQ", MarketRegions.Other)]
    [InlineData("UM", MarketRegions.Other)]
    public void A_country_belongs_to_its_documented_region(string country, string region) =>
        Assert.Equal(region, MarketRegions.Of(country));

    [Theory]
    [InlineData("XK")]
    [InlineData("ZZ")]
    public void A_code_the_table_does_not_know_is_other(string country) =>
        Assert.Equal(MarketRegions.Other, MarketRegions.Of(country));

    [Fact]
    public void Every_assigned_country_code_has_exactly_one_region_and_the_table_has_no_other_codes() =>
        Assert.Equal(
            Countries.Assigned,
            MarketRegions.ByCountry.Keys.Order(StringComparer.Ordinal));

    [Fact]
    public void Every_region_in_the_table_is_a_listed_region_and_every_listed_region_has_countries()
    {
        Assert.Subset(MarketRegions.All.ToHashSet(), MarketRegions.ByCountry.Values.ToHashSet());
        Assert.All(MarketRegions.All, region => Assert.NotEmpty(MarketRegions.CountriesOf(region)));
    }

    [Fact]
    public void The_export_and_home_markets_of_public_reporting_are_regions()
    {
        Assert.Contains(MarketRegions.Europe, MarketRegions.All);
        Assert.Contains(MarketRegions.Australia, MarketRegions.All);
        Assert.Contains(MarketRegions.NorthAmerica, MarketRegions.All);
        Assert.Contains(MarketRegions.China, MarketRegions.All);
    }

    [Fact]
    public void The_eu_and_eea_states_are_all_in_europe()
    {
        string[] euAndEea =
        [
            "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE", "IT", "LV", "LT", "LU",
            "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE", "IS", "LI", "NO",
        ];

        Assert.All(euAndEea, country => Assert.Equal(MarketRegions.Europe, MarketRegions.Of(country)));
    }

    [Fact]
    public void China_is_exactly_the_mainland_hong_kong_and_macao() =>
        Assert.Equal(["CN", "HK", "MO"], MarketRegions.CountriesOf(MarketRegions.China));

    [Fact]
    public void North_america_is_exactly_its_m49_sub_region_and_mexico() =>
        Assert.Equal(["BM", "CA", "GL", "MX", "PM", "US"], MarketRegions.CountriesOf(MarketRegions.NorthAmerica));
}
