using Ledger.EventStore;
using Ledger.Production.Factories;
using Ledger.Production.Units;

namespace Ledger.ReadModels.Tests.Support;

/// <summary>One unit's life as the line systems would record it: events in stream order with their moments.</summary>
internal sealed record UnitHistory(string Serial, IReadOnlyList<OccurredEvent> Events);

/// <summary>
/// A deterministic history of thousands of Megapacks from Lathrop and Shanghai: failed tests, reworks and retests,
/// cancelled and re-sent shipments, scrapped units (on the line and in transit), units still in transit at the end, and
/// builds, tests and shipments just either side of local midnight.
/// </summary>
internal static class History
{
    public static readonly DateTimeOffset Horizon = new(2025, 8, 20, 0, 0, 0, TimeSpan.Zero);

    private static readonly (string Country, string Site)[] FromLathrop =
    [
        ("US", "Moss Landing, California"), ("US", "Angleton, Texas"), ("CA", "Oneida, Ontario"), ("MX", "Monterrey Grid"),
        ("GB", "Pillswood, Hull"), ("DE", "Bollingstedt"), ("AU", "Victorian Big Battery"),
    ];

    private static readonly (string Country, string Site)[] FromShanghai =
    [
        ("AU", "Collie Battery, Western Australia"), ("AU", "Waratah Super Battery"), ("NZ", "Huntly Battery"),
        ("GB", "Pillswood, Hull"), ("NL", "Vlissingen Storage"), ("ES", "Almaraz BESS"), ("DE", "Bollingstedt"),
        ("CN", "Lingang Grid"),
    ];

    public static IReadOnlyList<UnitHistory> Generate(int seed = 20250211, int lathropUnits = 1800, int shanghaiUnits = 1300)
    {
        var random = new Random(seed);
        var units = new List<UnitHistory>();
        units.AddRange(Factory(random, FactorySeed.Lathrop, new DateOnly(2024, 6, 1), 240, lathropUnits, "LTH", FromLathrop));
        units.AddRange(Factory(random, FactorySeed.Shanghai, new DateOnly(2025, 2, 11), 170, shanghaiUnits, "SHA", FromShanghai));
        return units;
    }

    private static IEnumerable<UnitHistory> Factory(
        Random random, Factory factory, DateOnly firstDay, int days, int count, string prefix,
        (string Country, string Site)[] destinations)
    {
        var zone = TimeZoneInfo.FindSystemTimeZoneById(factory.TimeZoneId);
        for (var i = 0; i < count; i++)
        {
            // Ramping: later days are likelier (square root spreads more units towards the end).
            var day = firstDay.AddDays((int)(Math.Sqrt(random.NextDouble()) * days));
            var minuteOfDay = random.Next(10) switch
            {
                0 => 23 * 60 + 30 + random.Next(30), // the last half hour of the local day
                1 => random.Next(30), // the first half hour of the local day
                _ => random.Next(24 * 60),
            };
            var local = day.ToDateTime(TimeOnly.MinValue).AddMinutes(minuteOfDay);
            if (zone.IsInvalidTime(local)) local = local.AddHours(1);
            var builtAt = new DateTimeOffset(local, zone.GetUtcOffset(local)).ToUniversalTime();
            yield return Life(random, $"{prefix}-{i + 1:D6}", factory.Id, builtAt, destinations);
        }
    }

    private static UnitHistory Life(
        Random random, string serial, string factoryId, DateTimeOffset builtAt, (string Country, string Site)[] destinations)
    {
        var events = new List<OccurredEvent>();
        var at = builtAt;
        void Add(IUnitEvent e) => events.Add(new OccurredEvent(e, at));
        TimeSpan Hours(int min, int max) => TimeSpan.FromMinutes(random.Next(min * 60, max * 60));
        bool Chance(double p) => random.NextDouble() < p;
        var kwh = random.Next(3) == 0 ? 3916m : 3854.5m;

        Add(new UnitBuilt(factoryId, "MP-L" + random.Next(1, 4), "Megapack 2 XL", kwh));
        at += Hours(1, 30);
        var passed = !Chance(0.12);
        Add(Test(passed));
        for (var attempt = 0; !passed && attempt < 3; attempt++)
        {
            at += Hours(2, 10);
            Add(new UnitReworked("Replaced coolant pump", "RW-01"));
            at += Hours(1, 6);
            passed = Chance(0.8);
            Add(Test(passed));
        }

        if (!passed || Chance(0.03))
        {
            at += Hours(1, 48);
            Add(new UnitScrapped(passed ? "Enclosure crushed during loading" : "Failed test after repeated rework"));
            return Done();
        }

        if (Chance(0.1)) return Done(); // still in stock

        var shipments = 0;
        while (true)
        {
            at += Hours(24, 240);
            var (country, site) = destinations[random.Next(destinations.Length)];
            var shipmentId = $"SHP-{serial}-{++shipments}";
            Add(new UnitShipped(new Destination(country, site), "COSCO Shipping", shipmentId));
            if (!Chance(0.08)) break;
            at += Hours(2, 72);
            Add(new ShipmentCancelled(shipmentId, "Vessel withdrawn from the route"));
            if (!Chance(0.6)) return Done();
        }

        if (Chance(0.02))
        {
            at += Hours(24, 400);
            Add(new UnitScrapped("Lost in transit"));
            return Done();
        }

        at += Hours(15 * 24, 40 * 24);
        if (at > Horizon) return Done(); // in transit at the end of the history
        Add(new UnitDelivered(events.Select(e => e.Event).OfType<UnitShipped>().Last().Destination.Site.ToUpperInvariant()));
        at += Hours(10 * 24, 60 * 24);
        if (at > Horizon) return Done();
        Add(new UnitCommissioned(events.Select(e => e.Event).OfType<UnitShipped>().Last().Destination.Site));
        return Done();

        UnitHistory Done() => new(serial, events);

        UnitTested Test(bool ok) => ok
            ? new UnitTested("EOL-0" + random.Next(1, 5), TestOutcome.Passed, kwh - 20m, 0.92m)
            : new UnitTested("EOL-0" + random.Next(1, 5), TestOutcome.Failed, kwh - 400m, 0.86m, "E-THERM-042");
    }

    /// <summary>
    /// Appends the units through the real store, deliberately not in <c>occurredAt</c> order: units in a shuffled order,
    /// and each unit's history in two appends in two rounds, so a unit's later events land in later transactions and
    /// early builds are recorded after later ones. Returns once the feed shows all of it.
    /// </summary>
    public static async Task AppendAsync(EventStore.EventStore store, IReadOnlyList<UnitHistory> units, int seed, CancellationToken cancellationToken)
    {
        var random = new Random(seed);
        var shuffled = units.OrderBy(_ => random.Next()).ToArray();
        var splits = shuffled.ToDictionary(u => u.Serial, u => 1 + random.Next(u.Events.Count));
        foreach (var round in new[] { 0, 1 })
        {
            var appends = shuffled
                .Select(u => (u, events: round == 0 ? u.Events.Take(splits[u.Serial]) : u.Events.Skip(splits[u.Serial])))
                .Where(x => x.events.Any())
                .Select(x => new StreamAppend(x.u.Serial, ExpectedVersion.Any, x.events.Select(ToEventData).ToArray()))
                .ToArray();
            foreach (var chunk in appends.Chunk(200))
            {
                await store.AppendAsync(chunk, cancellationToken);
            }
        }

        // The feed shows events up to the high-water mark, which this store's detector moves: whoever reads the feed
        // after the store is gone must find the whole history in it.
        await store.WaitForFeedAsync(await store.GetHeadPositionAsync(cancellationToken), cancellationToken);
    }

    public static EventData ToEventData(OccurredEvent e) =>
        new(Guid.CreateVersion7(), UnitEvents.Of(e.Event).StoredName, UnitEvents.Serialize(e.Event), e.OccurredAt);
}
