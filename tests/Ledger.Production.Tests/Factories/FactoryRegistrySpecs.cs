using Ledger.Production.Factories;
using Ledger.Production.Geography;

namespace Ledger.Production.Tests.Factories;

public sealed class FactoryRegistrySpecs
{
    private static readonly IFactoryRegistry Registry = InMemoryFactoryRegistry.Seeded;

    [Fact]
    public void The_ledger_starts_with_lathrop_shanghai_and_waller_ordered_by_id() =>
        Assert.Equal(["lathrop", "shanghai", "waller"], Registry.All.Select(f => f.Id));

    [Fact]
    public void Lathrop_is_producing_in_california_at_10000_units_a_year_since_2022()
    {
        Assert.True(Registry.TryFind("lathrop", out var lathrop));

        Assert.Equal("Lathrop, California, USA", lathrop.Location);
        Assert.Equal("US", lathrop.Country);
        Assert.Equal("America/Los_Angeles", lathrop.TimeZoneId);
        Assert.Equal(FactoryStatus.Producing, lathrop.Status);
        Assert.Equal(10_000, lathrop.NameplateUnitsPerYear);
        Assert.Equal(2022, lathrop.ProductionStarted?.Year);
    }

    [Fact]
    public void Shanghai_is_producing_in_lingang_since_2025_02_11_after_construction_began_2024_05_23()
    {
        Assert.True(Registry.TryFind("shanghai", out var shanghai));

        Assert.Equal("Lingang New Area, Shanghai, China", shanghai.Location);
        Assert.Equal("CN", shanghai.Country);
        Assert.Equal("Asia/Shanghai", shanghai.TimeZoneId);
        Assert.Equal(FactoryStatus.Producing, shanghai.Status);
        Assert.Equal(10_000, shanghai.NameplateUnitsPerYear);
        Assert.Equal(new DateOnly(2024, 5, 23), shanghai.ConstructionStarted);
        Assert.Equal(new DateOnly(2025, 2, 11), shanghai.ProductionStarted);
    }

    [Fact]
    public void Waller_is_under_construction_in_texas_with_no_production()
    {
        Assert.True(Registry.TryFind("waller", out var waller));

        Assert.Equal("Waller County, Texas, USA", waller.Location);
        Assert.Equal("US", waller.Country);
        Assert.Equal("America/Chicago", waller.TimeZoneId);
        Assert.Equal(FactoryStatus.UnderConstruction, waller.Status);
        Assert.Null(waller.ProductionStarted);
        Assert.Null(waller.ProductionStartedAt);
    }

    [Fact]
    public void Production_starts_at_local_midnight_in_the_factorys_time_zone()
    {
        Assert.Equal(new DateTimeOffset(2025, 2, 10, 16, 0, 0, TimeSpan.Zero), FactorySeed.Shanghai.ProductionStartedAt);
        Assert.Equal(new DateTimeOffset(2022, 1, 1, 8, 0, 0, TimeSpan.Zero), FactorySeed.Lathrop.ProductionStartedAt);
    }

    [Fact]
    public void A_factory_whose_time_zone_is_unknown_starts_at_the_earliest_moment_of_its_start_date()
    {
        var factory = FactorySeed.Shanghai with { TimeZoneId = "Mars/Olympus_Mons" };

        Assert.Equal(new DateTimeOffset(2025, 2, 10, 10, 0, 0, TimeSpan.Zero), factory.ProductionStartedAt);
    }

    [Fact]
    public void Every_seeded_factory_is_in_an_assigned_country_and_a_known_time_zone() =>
        Assert.All(Registry.All, factory =>
        {
            Assert.True(Countries.IsAssigned(factory.Country), factory.Country);
            Assert.True(TimeZoneInfo.TryFindSystemTimeZoneById(factory.TimeZoneId, out _), factory.TimeZoneId);
        });

    [Theory]
    [InlineData("Lathrop")]
    [InlineData("LATHROP")]
    [InlineData(" lathrop")]
    [InlineData("berlin")]
    public void Factories_are_found_only_by_their_exact_id(string id) => Assert.False(Registry.TryFind(id, out _));

    [Fact]
    public void A_registry_refuses_two_factories_with_one_id() =>
        Assert.Throws<ArgumentException>(() =>
            new InMemoryFactoryRegistry([FactorySeed.Lathrop, FactorySeed.Lathrop with { Name = "Another" }]));

    [Fact]
    public void A_registry_can_hold_any_set_of_factories()
    {
        var registry = new InMemoryFactoryRegistry([FactorySeed.Waller with { Status = FactoryStatus.Producing }]);

        Assert.True(registry.TryFind("waller", out var waller));
        Assert.Equal(FactoryStatus.Producing, waller.Status);
        Assert.False(registry.TryFind("lathrop", out _));
    }
}
