namespace Ledger.Production.Factories;

/// <summary>The factories a new ledger starts with (/work/shared/DOMAIN.md; docs/domain.md, "Factories").</summary>
public static class FactorySeed
{
    // Only the year (2022) is public; 1 January is the earliest date consistent with it (see Factory.ProductionStarted).
    public static Factory Lathrop { get; } = new(
        Id: "lathrop",
        Name: "Megafactory Lathrop",
        Location: "Lathrop, California, USA",
        Country: "US",
        TimeZoneId: "America/Los_Angeles",
        Status: FactoryStatus.Producing,
        NameplateUnitsPerYear: 10_000,
        ConstructionStarted: null,
        ProductionStarted: new DateOnly(2022, 1, 1));

    public static Factory Shanghai { get; } = new(
        Id: "shanghai",
        Name: "Megafactory Shanghai",
        Location: "Lingang New Area, Shanghai, China",
        Country: "CN",
        TimeZoneId: "Asia/Shanghai",
        Status: FactoryStatus.Producing,
        NameplateUnitsPerYear: 10_000,
        ConstructionStarted: new DateOnly(2024, 5, 23),
        ProductionStarted: new DateOnly(2025, 2, 11));

    public static Factory Waller { get; } = new(
        Id: "waller",
        Name: "Megafactory Waller County",
        Location: "Waller County, Texas, USA",
        Country: "US",
        TimeZoneId: "America/Chicago",
        Status: FactoryStatus.UnderConstruction,
        NameplateUnitsPerYear: null,
        ConstructionStarted: null,
        ProductionStarted: null);

    public static IReadOnlyList<Factory> All { get; } = [Lathrop, Shanghai, Waller];
}
