using System.Globalization;
using System.Text.Json.Nodes;

namespace Ledger.Reliability.Tests.Support;

/// <summary>
/// One event a line system means to record. (serial, type, occurredAt) names it: a unit's events are at least a minute
/// apart, so the same fact stored twice under different ids shows up as two rows with one <see cref="Key"/>.
/// </summary>
internal sealed record PlannedEvent(string Serial, string Type, DateTimeOffset OccurredAt, JsonObject Data)
{
    public string Key => FactKey(Serial, Type, OccurredAt);

    public static string FactKey(string serial, string type, DateTimeOffset occurredAt) =>
        string.Create(CultureInfo.InvariantCulture, $"{serial}|{type}|{occurredAt.UtcTicks / 10}");

    /// <summary>The event object as posted; <paramref name="withSerial"/> for <c>POST /events</c>.</summary>
    public JsonObject ToJson(Guid? eventId, bool withSerial)
    {
        var json = new JsonObject();
        if (withSerial) json["serial"] = Serial;
        if (eventId is { } id) json["eventId"] = id.ToString();
        json["type"] = Type;
        json["occurredAt"] = OccurredAt.ToString("yyyy-MM-dd'T'HH:mm:ss.fffzzz", CultureInfo.InvariantCulture);
        json["data"] = Data.DeepClone();
        return json;
    }
}

/// <summary>A unit's whole life as its factory's line systems will post it, and how far they have got.</summary>
internal sealed class UnitLife(string serial, IReadOnlyList<PlannedEvent> events)
{
    public string Serial { get; } = serial;
    public IReadOnlyList<PlannedEvent> Events { get; } = events;
    public int Next { get; set; }

    /// <summary>Its writer gave up on it after a request whose fate it cannot know; nothing more is posted for it.</summary>
    public bool Abandoned { get; set; }

    public bool HasMore => !Abandoned && Next < Events.Count;
}

/// <summary>
/// Deterministic Megapack lives that the ledger's rules accept: built at Lathrop or Shanghai, tested (some fail, are
/// reworked and retested), shipped (some shipments cancelled and sent again), delivered, commissioned, a few scrapped.
/// </summary>
internal static class Workload
{
    private static readonly DateTimeOffset Start = new(2025, 3, 3, 0, 0, 0, TimeSpan.Zero);

    private static readonly (string Country, string Site)[] Destinations =
    [
        ("AU", "Collie Battery, Western Australia"), ("DE", "Bollingstedt"), ("GB", "Pillswood, Hull"), ("US", "Moss Landing, California"),
        ("NZ", "Huntly Battery"), ("NL", "Vlissingen Storage"), ("CN", "Lingang Grid"), ("CA", "Oneida, Ontario"),
    ];

    /// <summary>
    /// <paramref name="count"/> lives with serials <c>{LTH|SHA}-{tag}-{group}-{n}</c>; <paramref name="tag"/> keeps tests
    /// (and repeated runs of one) apart, <paramref name="group"/> one writer's units from another's.
    /// </summary>
    public static List<UnitLife> Lives(int seed, string tag, int group, int count)
    {
        var random = new Random(seed * 7919 + group);
        var lives = new List<UnitLife>(count);
        for (var n = 0; n < count; n++)
        {
            var shanghai = random.Next(2) == 0;
            var serial = string.Create(CultureInfo.InvariantCulture, $"{(shanghai ? "SHA" : "LTH")}-{tag}-{group:D2}-{n:D5}");
            var at = Start.AddMinutes(n * 11 + group * 3 + random.Next(10));
            lives.Add(new UnitLife(serial, Life(random, serial, shanghai, at)));
        }

        return lives;
    }

    private static List<PlannedEvent> Life(Random random, string serial, bool shanghai, DateTimeOffset at)
    {
        var events = new List<PlannedEvent>();
        var step = 0;
        void Add(string type, JsonObject data)
        {
            events.Add(new PlannedEvent(serial, type, at, data));
            at = at.AddMinutes(60 + random.Next(24 * 60));
            step++;
        }

        Add("UnitBuilt", new JsonObject
        {
            ["factoryId"] = shanghai ? "shanghai" : "lathrop",
            ["line"] = shanghai ? "MP-L1" : "L" + (1 + random.Next(3)).ToString(CultureInfo.InvariantCulture),
            ["model"] = "Megapack 2 XL",
            ["nameplateKwh"] = random.Next(5) == 0 ? 3854 : 3916,
        });
        var failures = random.Next(6) == 0 ? 1 + random.Next(2) : 0;
        for (var f = 0; f < failures; f++)
        {
            Add("UnitTested", Test(random, passed: false));
            Add("UnitReworked", new JsonObject { ["reason"] = "Replaced coolant pump", ["station"] = "RW-0" + (1 + random.Next(3)).ToString(CultureInfo.InvariantCulture) });
        }

        Add("UnitTested", Test(random, passed: true));
        if (random.Next(25) == 0)
        {
            Add("UnitScrapped", new JsonObject { ["reason"] = "Enclosure damaged during handling" });
            return events;
        }

        var destination = Destinations[random.Next(Destinations.Length)];
        var shipment = "SHP-" + serial + "-1";
        Add("UnitShipped", Shipped(destination, shipment));
        if (random.Next(8) == 0)
        {
            Add("ShipmentCancelled", new JsonObject { ["shipmentId"] = shipment, ["reason"] = "Vessel withdrawn from the route" });
            destination = Destinations[random.Next(Destinations.Length)];
            shipment = "SHP-" + serial + "-2";
            Add("UnitShipped", Shipped(destination, shipment));
        }

        if (random.Next(5) == 0) return events; // still at sea
        Add("UnitDelivered", new JsonObject { ["site"] = destination.Site });
        if (random.Next(3) != 0) Add("UnitCommissioned", new JsonObject { ["site"] = destination.Site });
        return events;
    }

    private static JsonObject Test(Random random, bool passed)
    {
        var test = new JsonObject
        {
            ["station"] = "EOL-0" + (1 + random.Next(4)).ToString(CultureInfo.InvariantCulture),
            ["result"] = passed ? "passed" : "failed",
            ["measuredKwh"] = Math.Round(3800m + random.Next(1000) / 10m, 1),
            ["roundTripEfficiency"] = Math.Round(0.88m + random.Next(60) / 1000m, 3),
        };
        if (!passed) test["failureCode"] = "E-THERM-0" + random.Next(10, 99).ToString(CultureInfo.InvariantCulture);
        return test;
    }

    private static JsonObject Shipped((string Country, string Site) destination, string shipment) => new()
    {
        ["destination"] = new JsonObject { ["country"] = destination.Country, ["site"] = destination.Site },
        ["carrier"] = "COSCO Shipping",
        ["shipmentId"] = shipment,
    };
}
