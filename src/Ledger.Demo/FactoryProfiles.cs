using Ledger.Production.Geography;

namespace Ledger.Demo;

/// <summary>A point of a curve over dates (a build rate in units a day, a yield), interpolated linearly between points.</summary>
internal sealed record CurvePoint(DateOnly Day, double Value);

/// <summary>What a factory builds from a date on.</summary>
internal sealed record ModelRevision(DateOnly From, string Model, decimal NameplateKwh);

/// <summary>A line, from the date it opened, and its share of the builds.</summary>
internal sealed record LineOpening(DateOnly From, string Line, double Share);

/// <summary>Days the factory builds less (holidays, shutdowns): <paramref name="Factor"/> of a normal day.</summary>
internal sealed record ReducedDays(DateOnly From, DateOnly To, double Factor);

/// <summary>Where a factory's shipments go from a date on: market regions and their shares.</summary>
internal sealed record MarketMix(DateOnly From, IReadOnlyList<(string Region, double Weight)> Regions);

/// <summary>How a factory ships to a market region: shipment sizes, days in transit, carriers.</summary>
internal sealed record Route(int MinUnits, int MaxUnits, int MinTransitDays, int MaxTransitDays, IReadOnlyList<string> Carriers);

/// <summary>
/// One producing factory of the demo: its build-rate curve and the public fact it is calibrated to, its models, lines,
/// test stations and yields, and where and how it ships.
/// </summary>
internal sealed record FactoryProfile
{
    public required string FactoryId { get; init; }
    public required string SerialPrefix { get; init; }
    public required string TimeZoneId { get; init; }
    public required DateOnly FirstBuildDay { get; init; }

    /// <summary>The public milestone the curve is scaled to: the <c>Nth</c> unit is built on this local day.</summary>
    public required (DateOnly Day, int Nth) Calibration { get; init; }

    public required IReadOnlyList<CurvePoint> Rate { get; init; }
    public required IReadOnlyDictionary<DayOfWeek, double> Weekdays { get; init; }
    public required IReadOnlyList<ReducedDays> ReducedDays { get; init; }
    public required IReadOnlyList<ModelRevision> Models { get; init; }
    public required IReadOnlyList<LineOpening> Lines { get; init; }
    public required IReadOnlyList<string> TestStations { get; init; }
    public required IReadOnlyList<string> ReworkStations { get; init; }

    /// <summary>Share of units passing their first end-of-line test, by date (interpolated).</summary>
    public required IReadOnlyList<CurvePoint> FirstPassYield { get; init; }

    /// <summary>The first day the factory's dock ships.</summary>
    public required DateOnly DockOpens { get; init; }

    public required IReadOnlyList<MarketMix> Markets { get; init; }
    public required IReadOnlyDictionary<string, Route> Routes { get; init; }

    /// <summary>Units whose shipment must go to a region (by their number at the factory), as the public record says.</summary>
    public IReadOnlyDictionary<int, string> ForcedRegions { get; init; } = new Dictionary<int, string>();

    /// <summary>Units the public record names: they pass their tests and are never cancelled or lost.</summary>
    public IReadOnlySet<int> Named { get; init; } = new HashSet<int>();

    public TimeZoneInfo TimeZone => TimeZoneInfo.FindSystemTimeZoneById(TimeZoneId);
}

/// <summary>
/// The two producing Megafactories as the demo models them. The public facts (/work/shared/DOMAIN.md, docs/domain.md)
/// are held exactly; everything else is believable invention, and says so.
/// </summary>
internal static class FactoryProfiles
{
    private static DateOnly D(int year, int month, int day) => new(year, month, day);

    /// <summary>
    /// Lathrop: in production since 2022 (only the year is public; the demo starts on the first working day) and its
    /// 10,000th Megapack in November 2024 — the curve is scaled so that unit is built on 2024-11-15. The steep ramp of
    /// 2024 puts that year's output at about 28 GWh, the scale of Tesla's 31.4 GWh of storage deployed in 2024; from 2025
    /// it runs at a little over 90 % of its 10,000 units a year. It exported to Australia and Europe from its second half
    /// year until Shanghai took those markets over in 2025.
    /// </summary>
    public static FactoryProfile Lathrop { get; } = new()
    {
        FactoryId = "lathrop",
        SerialPrefix = "LTH",
        TimeZoneId = "America/Los_Angeles",
        FirstBuildDay = D(2022, 1, 3),
        Calibration = (D(2024, 11, 15), 10_000),
        Rate =
        [
            new(D(2022, 1, 3), 1.5), new(D(2022, 12, 31), 4.6), new(D(2023, 12, 31), 11.6), new(D(2024, 6, 30), 24),
            new(D(2024, 11, 15), 27), new(D(2025, 6, 30), 27), new(D(2026, 6, 30), 27.5), new(D(2030, 1, 1), 28),
        ],
        Weekdays = Week(saturday: 0.55, sunday: 0.1),
        ReducedDays = [.. UsHolidays(2022, 2030)],
        Models =
        [
            new(D(2022, 1, 1), "Megapack 2", 3854m),
            new(D(2023, 7, 1), "Megapack 2 XL", 3916m),
            new(D(2026, 4, 1), "Megapack 2 XL", 3936m), // a cell revision: same model, more energy per unit
        ],
        Lines = [new(D(2022, 1, 1), "L1", 1), new(D(2022, 8, 1), "L2", 1), new(D(2024, 2, 1), "L3", 0.8)],
        TestStations = ["EOL-01", "EOL-02", "EOL-03", "EOL-04"],
        ReworkStations = ["RW-01", "RW-02"],
        FirstPassYield = [new(D(2022, 1, 1), 0.925), new(D(2023, 6, 30), 0.955), new(D(2024, 12, 31), 0.968), new(D(2026, 12, 31), 0.975)],
        DockOpens = D(2022, 1, 10),
        Markets =
        [
            new(D(2022, 1, 1), [(MarketRegions.NorthAmerica, 1)]),
            new(D(2022, 7, 1), [(MarketRegions.NorthAmerica, 74), (MarketRegions.Australia, 12), (MarketRegions.Europe, 9), (MarketRegions.AsiaPacific, 3), (MarketRegions.MiddleEast, 2)]),
            // Shanghai exports to Australia from March 2025 and to Europe from spring: Lathrop keeps to its home market.
            new(D(2025, 3, 1), [(MarketRegions.NorthAmerica, 88), (MarketRegions.Australia, 4), (MarketRegions.Europe, 6), (MarketRegions.MiddleEast, 2)]),
            new(D(2025, 9, 1), [(MarketRegions.NorthAmerica, 95), (MarketRegions.Europe, 3), (MarketRegions.MiddleEast, 2)]),
        ],
        Routes = new Dictionary<string, Route>
        {
            [MarketRegions.NorthAmerica] = new(4, 24, 2, 9, ["BNSF Railway", "Union Pacific", "J.B. Hunt", "Schneider National"]),
            [MarketRegions.Australia] = new(20, 60, 24, 38, ["Maersk", "Hapag-Lloyd", "Ocean Network Express"]),
            [MarketRegions.Europe] = new(20, 60, 30, 46, ["Maersk", "Hapag-Lloyd", "CMA CGM"]),
            [MarketRegions.AsiaPacific] = new(12, 40, 16, 28, ["Ocean Network Express", "Matson"]),
            [MarketRegions.MiddleEast] = new(20, 50, 36, 50, ["Maersk", "CMA CGM"]),
        },
        Named = new HashSet<int> { 1, 10_000 },
    };

    /// <summary>
    /// Shanghai: production from 2025-02-11, a quick ramp to its 1,000th unit on 2025-07-21 (under six months, about 192
    /// units a month on average) — shipped to Europe — and on towards its 10,000 units a year. Its first exports went to
    /// Australia in March 2025: the dock opens on 2025-03-11 and ships only to Australia that month.
    /// </summary>
    /// <remarks>
    /// "About 2,000 units a year" at the 1,000th unit is 1,000 units in its first half-year. A ramp that averages more
    /// than 188 units a month over those months runs at no less than that at the end of them, so the trailing 30-day
    /// rate there is about 2,300 a year annualized: the curve is almost flat from April to late July, then ramps again.
    /// </remarks>
    public static FactoryProfile Shanghai { get; } = new()
    {
        FactoryId = "shanghai",
        SerialPrefix = "SHA",
        TimeZoneId = "Asia/Shanghai",
        FirstBuildDay = D(2025, 2, 11),
        Calibration = (D(2025, 7, 21), 1_000),
        Rate =
        [
            new(D(2025, 2, 11), 4.5), new(D(2025, 3, 10), 7.2), new(D(2025, 7, 21), 7.3), new(D(2025, 9, 30), 10),
            new(D(2025, 12, 31), 14), new(D(2026, 6, 30), 20), new(D(2026, 12, 31), 24), new(D(2030, 1, 1), 30),
        ],
        Weekdays = Week(saturday: 0.85, sunday: 0.2),
        ReducedDays =
        [
            new(D(2025, 5, 1), D(2025, 5, 5), 0.5), new(D(2025, 10, 1), D(2025, 10, 7), 0.4),
            new(D(2026, 2, 15), D(2026, 2, 23), 0.1), // Spring Festival
            new(D(2026, 5, 1), D(2026, 5, 5), 0.5), new(D(2026, 10, 1), D(2026, 10, 7), 0.4),
        ],
        Models = [new(D(2025, 1, 1), "Megapack 2 XL", 3916m), new(D(2026, 5, 1), "Megapack 2 XL", 3936m)],
        Lines = [new(D(2025, 1, 1), "MP-L1", 1), new(D(2025, 9, 15), "MP-L2", 1)],
        TestStations = ["EOL-01", "EOL-02", "EOL-03"],
        ReworkStations = ["RW-01", "RW-02"],
        FirstPassYield = [new(D(2025, 2, 11), 0.9), new(D(2025, 7, 31), 0.955), new(D(2026, 6, 30), 0.97)],
        DockOpens = D(2025, 3, 11),
        Markets =
        [
            new(D(2025, 3, 1), [(MarketRegions.Australia, 1)]),
            new(D(2025, 4, 1), [(MarketRegions.Australia, 40), (MarketRegions.China, 35), (MarketRegions.Europe, 20), (MarketRegions.AsiaPacific, 5)]),
            new(D(2025, 7, 1), [(MarketRegions.Europe, 36), (MarketRegions.Australia, 26), (MarketRegions.China, 28), (MarketRegions.AsiaPacific, 10)]),
            new(D(2026, 1, 1), [(MarketRegions.Europe, 40), (MarketRegions.Australia, 22), (MarketRegions.China, 27), (MarketRegions.AsiaPacific, 8), (MarketRegions.MiddleEast, 3)]),
        ],
        Routes = new Dictionary<string, Route>
        {
            [MarketRegions.China] = new(6, 30, 2, 8, ["Sinotrans", "China Railway Express"]),
            [MarketRegions.Australia] = new(20, 60, 14, 24, ["COSCO Shipping", "MSC", "Evergreen"]),
            [MarketRegions.Europe] = new(24, 72, 32, 48, ["COSCO Shipping", "MSC", "CMA CGM"]),
            [MarketRegions.AsiaPacific] = new(10, 36, 5, 14, ["COSCO Shipping", "Evergreen"]),
            [MarketRegions.MiddleEast] = new(20, 48, 20, 30, ["COSCO Shipping", "MSC"]),
        },
        ForcedRegions = new Dictionary<int, string> { [1_000] = MarketRegions.Europe },
        Named = new HashSet<int> { 1, 1_000 },
    };

    public static IReadOnlyList<FactoryProfile> All { get; } = [Lathrop, Shanghai];

    private static Dictionary<DayOfWeek, double> Week(double saturday, double sunday) => new()
    {
        [DayOfWeek.Monday] = 1, [DayOfWeek.Tuesday] = 1, [DayOfWeek.Wednesday] = 1, [DayOfWeek.Thursday] = 1,
        [DayOfWeek.Friday] = 1, [DayOfWeek.Saturday] = saturday, [DayOfWeek.Sunday] = sunday,
    };

    private static IEnumerable<ReducedDays> UsHolidays(int fromYear, int toYear)
    {
        for (var year = fromYear; year <= toYear; year++)
        {
            yield return new(D(year, 1, 1), D(year, 1, 1), 0);
            yield return new(D(year, 7, 4), D(year, 7, 4), 0);
            var thanksgiving = D(year, 11, 1);
            while (thanksgiving.DayOfWeek != DayOfWeek.Thursday) thanksgiving = thanksgiving.AddDays(1);
            thanksgiving = thanksgiving.AddDays(21);
            yield return new(thanksgiving, thanksgiving.AddDays(1), 0.2);
            yield return new(D(year, 12, 24), D(year, 12, 26), 0.15);
            yield return new(D(year, 12, 31), D(year, 12, 31), 0.5);
        }
    }
}

/// <summary>Countries of each market region the demo ships to, with their shares, and project sites in each.</summary>
internal static class Destinations
{
    public static IReadOnlyDictionary<string, IReadOnlyList<(string Country, double Weight)>> Countries { get; } =
        new Dictionary<string, IReadOnlyList<(string Country, double Weight)>>
        {
            [MarketRegions.NorthAmerica] = [("US", 88), ("CA", 9), ("MX", 3)],
            [MarketRegions.Australia] = [("AU", 90), ("NZ", 10)],
            [MarketRegions.Europe] = [("GB", 26), ("DE", 20), ("NL", 10), ("BE", 8), ("ES", 9), ("IT", 8), ("SE", 7), ("PL", 6), ("FI", 6)],
            [MarketRegions.China] = [("CN", 100)],
            [MarketRegions.AsiaPacific] = [("JP", 40), ("KR", 20), ("PH", 20), ("TW", 20)],
            [MarketRegions.MiddleEast] = [("SA", 60), ("AE", 40)],
        };

    public static IReadOnlyDictionary<string, IReadOnlyList<string>> Sites { get; } = new Dictionary<string, IReadOnlyList<string>>
    {
        ["US"] =
        [
            "Moss Landing, California", "Crimson Storage, California", "Angleton, Texas", "Cottonwood Bayou, Texas",
            "Arroyo Energy Storage, New Mexico", "Kapolei Energy Storage, Hawaii", "Sunstreams, Arizona",
            "Eland Solar and Storage, California", "Desert Peak, Nevada", "Prairie Hill, Oklahoma",
        ],
        ["CA"] = ["Oneida Energy Storage, Ontario", "Brant Battery, Ontario", "Buffalo Plains, Alberta"],
        ["MX"] = ["Baja Storage, Mexicali"],
        ["AU"] =
        [
            "Collie Battery, Western Australia", "Waratah Super Battery, New South Wales", "Western Downs Battery, Queensland",
            "Koorangie Energy Storage, Victoria", "Bouldercombe Battery, Queensland", "Blyth Battery, South Australia",
        ],
        ["NZ"] = ["Ruakaka Energy Park, Northland"],
        ["GB"] = ["Pillswood, East Yorkshire", "Thurrock, Essex", "Coalburn, South Lanarkshire"],
        ["DE"] = ["Bollingstedt", "Alfeld, Lower Saxony"],
        ["NL"] = ["Vlissingen Battery, Zeeland"],
        ["BE"] = ["Ruien, East Flanders"],
        ["ES"] = ["Tordesillas, Castile and Leon"],
        ["IT"] = ["Ottana, Sardinia"],
        ["SE"] = ["Nassjo, Smaland"],
        ["PL"] = ["Zarnowiec, Pomerania"],
        ["FI"] = ["Lempaala, Pirkanmaa"],
        ["CN"] = ["Lingang Grid Storage, Shanghai", "Rudong Storage, Jiangsu", "Zhaoqing Storage, Guangdong", "Ulanqab Storage, Inner Mongolia"],
        ["JP"] = ["Kitami Storage, Hokkaido", "Saga Storage, Kyushu"],
        ["KR"] = ["Jeju Grid Battery"],
        ["PH"] = ["Bataan Grid Battery, Luzon"],
        ["TW"] = ["Changhua Storage, Changhua"],
        ["SA"] = ["Red Sea Storage, Tabuk"],
        ["AE"] = ["Al Dhafra Storage, Abu Dhabi"],
    };
}
