using Ledger.Production.Factories;
using Ledger.Production.Units;

namespace Ledger.Benchmarks.Workload;

/// <summary>One event of one unit, as a line system would post it.</summary>
internal sealed record PlannedEvent(string Serial, IUnitEvent Event, DateTimeOffset OccurredAt);

/// <summary>A unit the plan will build: its factory, its number at that factory, and when it comes off the line.</summary>
internal sealed record PlannedUnit(Factory Factory, int Number, DateTimeOffset BuiltAt)
{
    /// <summary>LTH-2024-010000: factory, year built, and the unit's running number at its factory.</summary>
    public string Serial => $"{Prefix(Factory)}-{BuiltAt.Year}-{Number:D6}";

    private static string Prefix(Factory factory) => factory.Id switch
    {
        "lathrop" => "LTH",
        "shanghai" => "SHA",
        _ => factory.Id.ToUpperInvariant(),
    };
}

/// <summary>
/// The history the benchmark posts: Megapacks built at Lathrop (since 2022) and Shanghai (since 11 February 2025), each
/// living build → test (sometimes failed, reworked and retested) → ship → deliver → commission, with a few cancelled
/// shipments and scrapped units, and every step after <see cref="Now"/> left out (units still in transit or not yet
/// commissioned). Every event is valid under the domain's rules (src/Ledger.Production), so the service accepts all of it.
/// </summary>
/// <remarks>
/// Volume is not realistic on purpose: a million events is about 200,000 units, some ten times what the two factories have
/// built so far (each has a nameplate of 10,000 units a year). Units are spread evenly over each factory's production
/// period, shared between the factories in proportion to how long each has produced.
/// </remarks>
internal sealed class MegapackHistory
{
    /// <summary>Events per unit on average (measured on this generator; a little over 5 with retests and cancellations).</summary>
    public const double EventsPerUnit = 5.0;

    private static readonly (string Country, string Site)[] FromLathrop =
    [
        ("US", "Moss Landing, California"), ("US", "Angleton, Texas"), ("US", "Crimson Storage, California"),
        ("CA", "Oneida, Ontario"), ("MX", "Monterrey Grid"), ("GB", "Pillswood, Hull"), ("DE", "Bollingstedt"),
        ("AU", "Victorian Big Battery"),
    ];

    private static readonly (string Country, string Site)[] FromShanghai =
    [
        ("AU", "Collie Battery, Western Australia"), ("AU", "Waratah Super Battery"), ("NZ", "Huntly Battery"),
        ("GB", "Pillswood, Hull"), ("NL", "Vlissingen Storage"), ("ES", "Almaraz BESS"), ("DE", "Bollingstedt"),
        ("CN", "Lingang Grid"),
    ];

    private static readonly string[] Carriers = ["COSCO Shipping", "Maersk Line", "CMA CGM", "Matson"];

    private readonly FactoryPlan[] _factories;
    private readonly int _seed;

    /// <param name="plannedEvents">How many events the whole run may need; the plan holds units for somewhat more.</param>
    /// <param name="now">The end of history: nothing is planned after it.</param>
    /// <param name="seed">Makes the history reproducible.</param>
    public MegapackHistory(long plannedEvents, DateTimeOffset now, int seed = 20250211)
    {
        Now = now;
        _seed = seed;
        var end = now.AddDays(-3);
        var lathropStart = ProductionStart(FactorySeed.Lathrop);
        var shanghaiStart = ProductionStart(FactorySeed.Shanghai);
        var lathropDays = (end - lathropStart).TotalDays;
        var shanghaiDays = (end - shanghaiStart).TotalDays;
        var units = (long)Math.Ceiling(plannedEvents / EventsPerUnit) + 1_000;
        var lathropUnits = (int)(units * lathropDays / (lathropDays + shanghaiDays));
        _factories =
        [
            new FactoryPlan(FactorySeed.Lathrop, lathropStart, end, lathropUnits, FromLathrop, "L"),
            new FactoryPlan(FactorySeed.Shanghai, shanghaiStart, end, (int)units - lathropUnits, FromShanghai, "MP-L"),
        ];
    }

    /// <summary>The end of history.</summary>
    public DateTimeOffset Now { get; }

    /// <summary>The factories that build, with the share of units each builds.</summary>
    public IReadOnlyList<(Factory Factory, double Share)> Factories =>
        [.. _factories.Select(f => (f.Factory, (double)f.Units / _factories.Sum(p => p.Units)))];

    /// <summary>The next unit of <paramref name="factory"/> not handed out yet (thread-safe); each unit goes to one lane only.</summary>
    public PlannedUnit NextUnit(Factory factory) => _factories.Single(f => f.Factory.Id == factory.Id).Next();

    /// <summary>
    /// How many lanes of <paramref name="lanes"/> each factory gets, in proportion to its units (at least one each), so
    /// that every lane is one line system posting for one factory with one line key.
    /// </summary>
    public IReadOnlyList<Factory> AssignLanes(int lanes)
    {
        var shares = Factories;
        var result = new List<Factory>(lanes);
        for (var i = 0; i < shares.Count; i++)
        {
            var count = i == shares.Count - 1
                ? lanes - result.Count
                : Math.Clamp((int)Math.Round(lanes * shares[i].Share), 1, lanes - (shares.Count - 1 - i) - result.Count);
            result.AddRange(Enumerable.Repeat(shares[i].Factory, count));
        }

        return result;
    }

    /// <summary>A unit's whole life up to <see cref="Now"/>, the same every time for the same unit.</summary>
    public IReadOnlyList<PlannedEvent> Life(PlannedUnit unit)
    {
        var plan = _factories.Single(f => f.Factory.Id == unit.Factory.Id);
        var random = new Random((int)Mix((ulong)_seed, (ulong)Array.IndexOf(_factories, plan), (ulong)unit.Number));
        var serial = unit.Serial;
        var events = new List<PlannedEvent>(6);
        var at = unit.BuiltAt;
        var kwh = random.Next(3) == 0 ? 3916m : 3854.5m;
        bool Chance(double p) => random.NextDouble() < p;
        TimeSpan Hours(double min, double max) => TimeSpan.FromMinutes(random.Next((int)(min * 60), (int)(max * 60)));
        bool Add(IUnitEvent e)
        {
            if (at > Now) return false;
            events.Add(new PlannedEvent(serial, e, at));
            return true;
        }

        UnitTested Test(bool passed)
        {
            var station = "EOL-0" + random.Next(1, 5);
            var measured = decimal.Round(kwh - 10m - (decimal)random.Next(0, 400) / 10m, 1);
            return passed
                ? new UnitTested(station, TestOutcome.Passed, measured, 0.92m)
                : new UnitTested(station, TestOutcome.Failed, measured - 300m, 0.86m, random.Next(2) == 0 ? "E-THERM-042" : "E-CELL-117");
        }

        Add(new UnitBuilt(unit.Factory.Id, plan.LinePrefix + random.Next(1, 4), "Megapack 2 XL", kwh));
        at += Hours(1, 30);
        var passed = !Chance(0.08);
        if (!Add(Test(passed))) return events;
        for (var attempt = 0; !passed && attempt < 2; attempt++)
        {
            at += Hours(2, 10);
            if (!Add(new UnitReworked("Replaced coolant pump", "RW-01"))) return events;
            at += Hours(1, 6);
            passed = Chance(0.9);
            if (!Add(Test(passed))) return events;
        }

        if (!passed)
        {
            at += Hours(1, 48);
            Add(new UnitScrapped("Failed test after repeated rework"));
            return events;
        }

        var (country, site) = plan.Destinations[random.Next(plan.Destinations.Length)];
        var shipment = 0;
        at += Hours(24, 240);
        if (!Add(Shipped())) return events;
        if (Chance(0.03))
        {
            at += Hours(2, 72);
            if (!Add(new ShipmentCancelled(ShipmentId(), "Vessel withdrawn from the route"))) return events;
            at += Hours(24, 120);
            (country, site) = plan.Destinations[random.Next(plan.Destinations.Length)];
            if (!Add(Shipped())) return events;
        }

        at += Hours(15 * 24, 40 * 24);
        if (!Add(new UnitDelivered(site))) return events;
        at += Hours(10 * 24, 60 * 24);
        Add(new UnitCommissioned(site));
        return events;

        UnitShipped Shipped()
        {
            shipment++;
            return new UnitShipped(new Destination(country, site), Carriers[random.Next(Carriers.Length)], ShipmentId());
        }

        string ShipmentId() => $"SHP-{serial}-{shipment}";
    }

    /// <summary>A fixed mix (SplitMix64's finalizer): HashCode is seeded per process, and the history must not be.</summary>
    private static ulong Mix(ulong a, ulong b, ulong c)
    {
        var z = a * 0x9E3779B97F4A7C15UL ^ b * 0xBF58476D1CE4E5B9UL ^ c * 0x94D049BB133111EBUL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    private static DateTimeOffset ProductionStart(Factory factory)
    {
        var zone = TimeZoneInfo.FindSystemTimeZoneById(factory.TimeZoneId);
        var local = factory.ProductionStarted!.Value.ToDateTime(new TimeOnly(8, 0));
        return new DateTimeOffset(local, zone.GetUtcOffset(local)).ToUniversalTime();
    }

    private sealed class FactoryPlan(
        Factory factory, DateTimeOffset start, DateTimeOffset end, int units, (string Country, string Site)[] destinations, string linePrefix)
    {
        private int _handedOut;

        public Factory Factory { get; } = factory;
        public int Units { get; } = units;
        public (string Country, string Site)[] Destinations { get; } = destinations;
        public string LinePrefix { get; } = linePrefix;

        public PlannedUnit Next()
        {
            var number = Interlocked.Increment(ref _handedOut);
            if (number > Units)
                throw new InvalidOperationException($"The plan for {Factory.Id} has only {Units} units; size the history for more events.");
            // Evenly spaced with a little jitter that never reorders two units: builds come off the line in number order.
            var jitter = (Mix(0, 0, (ulong)number) & 0xFFFF) / 65536.0 * 0.8 + 0.1;
            var at = start + (end - start) * ((number - 1 + jitter) / Units);
            return new PlannedUnit(Factory, number, new DateTimeOffset(at.UtcTicks - at.UtcTicks % TimeSpan.TicksPerSecond, TimeSpan.Zero));
        }
    }
}
