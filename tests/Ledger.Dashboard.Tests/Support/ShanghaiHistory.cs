using System.Globalization;
using System.Text.Json.Nodes;
using Ledger.Production.Geography;

namespace Ledger.Dashboard.Tests.Support;

/// <summary>What one unit went through, for the expected figures (local dates are Shanghai's).</summary>
internal sealed record UnitFacts(
    string Serial, DateOnly BuiltOn, decimal NameplateKwh, string? Region, string? Country, bool Shipped, bool Delivered, bool Commissioned,
    bool Scrapped);

/// <summary>One event to post to <c>POST /api/v1/events</c>.</summary>
internal sealed record PlannedEvent(string Serial, string Type, DateTimeOffset OccurredAt, JsonObject Data)
{
    public JsonObject ToJson() => new()
    {
        ["serial"] = Serial,
        ["type"] = Type,
        ["occurredAt"] = OccurredAt.ToString("yyyy-MM-dd'T'HH:mm:sszzz", CultureInfo.InvariantCulture),
        ["data"] = Data.DeepClone(),
    };
}

/// <summary>
/// A compact, believable history for the dashboard test, consistent with shared/DOMAIN.md: Megafactory Shanghai from its
/// first unit on 2025-02-11, about six a day within two weeks, its 1,000th unit at the end of July (shipped to Europe) at
/// a run rate of about 2,200 a year, then ramping again into October; end-of-line tests with a few failures, reworks and
/// retests; domestic deliveries in China from the start, exports to Australia from March and to Europe from May,
/// delivered weeks after shipping and commissioned weeks after that; one diverted shipment and one unit scrapped.
/// Deterministic (seeded): about 1,800 units and 8,400 events.
/// <para>
/// Lathrop's years of history are left out: ten times the events, for no chart this test does not already draw. The
/// full demo history belongs to the demo seeder (src/Ledger.Cli/Demo, being written); once it exists this test could
/// post through it instead. Meanwhile the dashboard shows Lathrop as a producing factory with no units recorded.
/// </para>
/// </summary>
internal sealed class ShanghaiHistory
{
    public static readonly TimeSpan Shanghai = TimeSpan.FromHours(8);
    public static readonly DateOnly ProductionStart = new(2025, 2, 11);
    public const decimal NameplateKwh = 3916m;

    private static readonly (string Country, string Region, string Site, int TransitDaysMin, int TransitDaysMax)[] Domestic =
    [
        ("CN", "China", "Lingang Grid Storage Station", 2, 5),
        ("CN", "China", "Jiangsu Rudong Storage Park", 3, 6),
    ];

    private static readonly (string Country, string Region, string Site, int TransitDaysMin, int TransitDaysMax)[] Australia =
    [
        ("AU", "Australia", "Collie Battery, Western Australia", 18, 26),
        ("AU", "Australia", "Waratah Super Battery", 16, 24),
        ("NZ", "Australia", "Huntly Grid Battery", 20, 28),
    ];

    private static readonly (string Country, string Region, string Site, int TransitDaysMin, int TransitDaysMax)[] Europe =
    [
        ("DE", "Europe", "Bollingstedt", 36, 46),
        ("GB", "Europe", "Pillswood, East Yorkshire", 38, 48),
        ("NL", "Europe", "Vlissingen Battery Park", 35, 44),
    ];

    private static readonly string[] FailureCodes = ["E-THERM-042", "E-CELL-IMBALANCE", "E-INV-017", "E-COOLANT-LEAK"];

    private ShanghaiHistory(IReadOnlyList<PlannedEvent> events, IReadOnlyList<UnitFacts> units)
    {
        Events = events;
        Units = units;
    }

    /// <summary>Every event, in the order they occurred (each unit's in its own order).</summary>
    public IReadOnlyList<PlannedEvent> Events { get; }

    /// <summary>Every unit and how far it got by <c>now</c>.</summary>
    public IReadOnlyList<UnitFacts> Units { get; }

    /// <summary>The history up to (not including) <paramref name="now"/>; what would happen later is left out.</summary>
    public static ShanghaiHistory Generate(DateTimeOffset now, int seed = 2025)
    {
        var random = new Random(seed);
        var events = new List<PlannedEvent>();
        var units = new List<UnitFacts>();
        var shipments = new Dictionary<(string Site, DateOnly Week), string>();
        var lastDay = DateOnly.FromDateTime(now.ToOffset(Shanghai).DateTime).AddDays(-1);
        var serialNumber = 0;
        for (var day = ProductionStart; day <= lastDay; day = day.AddDays(1))
        {
            var age = day.DayNumber - ProductionStart.DayNumber;
            var built = (int)Math.Round(DailyRate(age) * (0.8 + (0.4 * random.NextDouble())));
            for (var i = 0; i < built; i++)
            {
                serialNumber++;
                var serial = $"SHA-2025-{serialNumber:D6}";
                var at = new DateTimeOffset(day.ToDateTime(new TimeOnly(8, 0)), Shanghai).AddMinutes(random.Next(0, 14 * 60));
                var planned = PlanUnit(serial, serialNumber, day, at, random, shipments);
                var happened = planned.Where(e => e.OccurredAt < now).ToList();
                events.AddRange(happened);
                units.Add(Facts(serial, day, happened));
            }
        }

        // Stable: events of one unit that share a moment keep their order.
        var ordered = events.Select((e, i) => (e, i)).OrderBy(x => x.e.OccurredAt).ThenBy(x => x.i).Select(x => x.e).ToList();
        return new ShanghaiHistory(ordered, units);
    }

    /// <summary>
    /// Units a day, <paramref name="age"/> days after the start: from 2 to 6 in two weeks, about 6 (2,200 a year) until the
    /// 1,000th unit at the end of July, then ramping again towards 9 by mid-October.
    /// </summary>
    private static double DailyRate(int age) => age < 14 ? 2 + (4.1 * age / 14) : age < 170 ? 6.1 : Math.Min(9, 6.1 + ((age - 170) * 3.0 / 75));

    private static List<PlannedEvent> PlanUnit(
        string serial, int n, DateOnly day, DateTimeOffset builtAt, Random random, Dictionary<(string, DateOnly), string> shipments)
    {
        var line = n % 3 == 0 && day >= new DateOnly(2025, 6, 1) ? "MP-L2" : "MP-L1";
        var events = new List<PlannedEvent>
        {
            new(serial, "UnitBuilt", builtAt, new JsonObject
            {
                ["factoryId"] = "shanghai", ["line"] = line, ["model"] = "Megapack 2 XL", ["nameplateKwh"] = NameplateKwh,
            }),
        };

        var at = builtAt.AddHours(random.Next(3, 20));
        var station = $"EOL-0{1 + random.Next(4)}";
        if (random.NextDouble() < 0.045)
        {
            events.Add(Tested(serial, at, station, random, passed: false));
            at = at.AddHours(random.Next(10, 40));
            events.Add(new(serial, "UnitReworked", at, new JsonObject { ["reason"] = "Replaced coolant pump", ["station"] = "RW-01" }));
            at = at.AddHours(random.Next(2, 8));
        }

        events.Add(Tested(serial, at, station, random, passed: true));

        // One unit is damaged in the yard and written off; it never ships.
        if (n == 640)
        {
            events.Add(new(serial, "UnitScrapped", at.AddDays(2), new JsonObject { ["reason"] = "Enclosure crushed during loading" }));
            return events;
        }

        var destination = Destination(n, day, random);
        var shippedAt = at.AddDays(random.Next(3, 11)).AddHours(random.Next(0, 6));
        var shipWeek = DateOnly.FromDateTime(shippedAt.ToOffset(Shanghai).DateTime);
        shipWeek = shipWeek.AddDays(-(((int)shipWeek.DayOfWeek + 6) % 7));
        if (!shipments.TryGetValue((destination.Site, shipWeek), out var shipmentId))
        {
            shipmentId = $"SHP-2025-{shipments.Count + 1:D4}";
            shipments[(destination.Site, shipWeek)] = shipmentId;
        }

        var carrier = destination.Region == "China" ? "Sinotrans" : "COSCO Shipping";
        events.Add(Shipped(serial, shippedAt, destination.Country, destination.Site, carrier, shipmentId));

        // One export is diverted on the way: cancelled, and shipped again to another Australian site.
        if (n == 420)
        {
            events.Add(new(serial, "ShipmentCancelled", shippedAt.AddDays(2),
                new JsonObject { ["shipmentId"] = shipmentId, ["reason"] = "Diverted to Waratah Super Battery" }));
            destination = Australia[1];
            shippedAt = shippedAt.AddDays(3);
            events.Add(Shipped(serial, shippedAt, destination.Country, destination.Site, carrier, shipmentId + "-R"));
        }

        var deliveredAt = shippedAt.AddDays(random.Next(destination.TransitDaysMin, destination.TransitDaysMax + 1)).AddHours(random.Next(0, 10));
        events.Add(new(serial, "UnitDelivered", deliveredAt, new JsonObject { ["site"] = destination.Site }));
        var commissionedAt = deliveredAt.AddDays(random.Next(14, 50));
        events.Add(new(serial, "UnitCommissioned", commissionedAt, new JsonObject { ["site"] = destination.Site }));
        return events;
    }

    /// <summary>China from the first day; Australia from March (unit 31 is the first export); Europe from May; unit 1,000 to Europe.</summary>
    private static (string Country, string Region, string Site, int TransitDaysMin, int TransitDaysMax) Destination(int n, DateOnly day, Random random)
    {
        if (n == 1000) return Europe[0];
        if (n == 31) return Australia[0];
        var draw = random.NextDouble();
        if (day < new DateOnly(2025, 3, 10) || n < 31) return Domestic[random.Next(Domestic.Length)];
        if (day < new DateOnly(2025, 5, 1)) return draw < 0.6 ? Domestic[random.Next(Domestic.Length)] : Australia[random.Next(Australia.Length)];
        return draw < 0.4 ? Domestic[random.Next(Domestic.Length)]
            : draw < 0.7 ? Australia[random.Next(Australia.Length)]
            : Europe[random.Next(Europe.Length)];
    }

    private static PlannedEvent Tested(string serial, DateTimeOffset at, string station, Random random, bool passed)
    {
        var data = new JsonObject
        {
            ["station"] = station,
            ["result"] = passed ? "passed" : "failed",
            ["measuredKwh"] = passed ? 3880m + random.Next(0, 60) + 0.5m : 3500m + random.Next(0, 200),
            ["roundTripEfficiency"] = passed ? 0.91m + (random.Next(0, 3) / 100m) : 0.86m,
        };
        if (!passed) data["failureCode"] = FailureCodes[random.Next(FailureCodes.Length)];
        return new(serial, "UnitTested", at, data);
    }

    private static PlannedEvent Shipped(string serial, DateTimeOffset at, string country, string site, string carrier, string shipmentId) =>
        new(serial, "UnitShipped", at, new JsonObject
        {
            ["destination"] = new JsonObject { ["country"] = country, ["site"] = site },
            ["carrier"] = carrier,
            ["shipmentId"] = shipmentId,
        });

    private static UnitFacts Facts(string serial, DateOnly builtOn, List<PlannedEvent> happened)
    {
        var types = happened.Select(e => e.Type).ToList();
        var lastShipment = happened.LastOrDefault(e => e.Type == "UnitShipped");
        var cancelledAfter = lastShipment is not null && happened.Skip(happened.IndexOf(lastShipment) + 1).Any(e => e.Type == "ShipmentCancelled");
        var shipped = lastShipment is not null && !cancelledAfter;
        var country = shipped ? (string)lastShipment!.Data["destination"]!["country"]! : null;
        return new UnitFacts(serial, builtOn, NameplateKwh, country is null ? null : MarketRegions.Of(country), country, shipped,
            types.Contains("UnitDelivered"), types.Contains("UnitCommissioned"), types.Contains("UnitScrapped"));
    }
}
