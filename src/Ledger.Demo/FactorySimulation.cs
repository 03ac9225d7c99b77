using System.Buffers.Binary;
using System.Globalization;
using Ledger.Production.Units;

namespace Ledger.Demo;

/// <summary>
/// One factory's history, day by day: how many units it builds (a rate curve scaled to the factory's public milestone,
/// with weekdays, holidays and daily noise), each unit's tests and reworks, and the dock that ships units in stock to
/// project sites, which receive and commission them later. Everything is simulated to the end of the last day and then
/// cut at the present, so a unit's history is always a prefix of its life.
/// </summary>
internal sealed class FactorySimulation
{
    private static readonly (string Code, string Repair, double Weight, bool LowEnergy, bool LowEfficiency)[] Failures =
    [
        ("E-THERM-042", "Replaced coolant pump", 22, false, false),
        ("E-CELL-IMB", "Rebalanced cell modules", 20, true, false),
        ("E-INV-017", "Replaced inverter power stage", 15, false, true),
        ("E-COOL-LEAK", "Resealed coolant loop fitting", 12, false, false),
        ("E-BMS-COMM", "Replaced BMS communication harness", 14, false, false),
        ("E-ISO-RES", "Reseated high-voltage connector and dried the enclosure", 10, false, false),
        ("E-RTE-LOW", "Replaced a degraded cell module", 7, true, true),
    ];

    private static readonly (int Index, double Weight)[] FailureWeights = [.. Failures.Select((f, i) => (i, f.Weight))];

    private static readonly string[] CancellationReasons =
    [
        "Vessel withdrawn from the route", "Customer site not ready to receive", "Booking rolled to a later sailing",
        "Permit for oversize transport delayed",
    ];

    private readonly FactoryProfile _profile;
    private readonly int _seed;
    private readonly DateTimeOffset _until;
    private readonly TimeZoneInfo _zone;
    private readonly string _mes, _test, _logistics, _field;

    public FactorySimulation(FactoryProfile profile, int seed, DateTimeOffset until)
    {
        _profile = profile;
        _seed = seed;
        _until = until;
        _zone = profile.TimeZone;
        var id = profile.FactoryId;
        (_mes, _test, _logistics, _field) = ($"{id}-mes", $"{id}-eol-test", $"{id}-logistics", $"{id}-field-service");
        Actors =
        [
            new(_mes, id, 0, "Manufacturing execution: records each unit built."),
            new(_test, id, 1, "End-of-line test stations and rework bays: tests, reworks, units scrapped at the factory."),
            new(_logistics, id, 2, "Shipping dock and carriers: shipments, cancellations, deliveries, losses in transit."),
            new(_field, id, 3, "Field service: commissioning at the site."),
        ];
    }

    public IReadOnlyList<DemoActor> Actors { get; }

    private DateOnly LastDay => DateOnly.FromDateTime(TimeZoneInfo.ConvertTime(_until, _zone).DateTime);

    public IEnumerable<DemoEvent> Run()
    {
        var units = Build(PlanBuilds());
        Ship(units);
        return units.SelectMany(u => u.Events).Where(e => e.OccurredAt <= _until);
    }

    /// <summary>
    /// Units built per local day, from the first build day to the last day. The curve with its weekday, holiday and
    /// noise factors is scaled so that the calibration unit (Lathrop's 10,000th, Shanghai's 1,000th) is built on its day:
    /// whatever the seed, the public milestone holds. Each day draws the same numbers however long the history is.
    /// </summary>
    internal List<(DateOnly Day, int Units)> PlanBuilds()
    {
        var random = DemoRandom.For(_seed, _profile.FactoryId, "plan");
        var (calibrationDay, nth) = _profile.Calibration;
        var end = LastDay > calibrationDay ? LastDay : calibrationDay;
        var days = new List<(DateOnly Day, double Raw)>();
        for (var day = _profile.FirstBuildDay; day <= end; day = day.AddDays(1))
        {
            var noise = Math.Exp((0.12 * random.Normal()) - 0.0072);
            var lineDown = random.Chance(0.012);
            // The first day and the calibration day are ordinary working days, never a line-down day.
            if (lineDown && day != _profile.FirstBuildDay && day != calibrationDay) noise *= 0.35;
            days.Add((day, Interpolate(_profile.Rate, day) * _profile.Weekdays[day.DayOfWeek] * Reduction(day) * noise));
        }

        var cumulative = 0.0;
        var atCalibration = 0.0;
        foreach (var (day, raw) in days)
        {
            cumulative += raw;
            if (day == calibrationDay) atCalibration = cumulative;
        }

        // Scaled so that the cumulative count reaches nth + 0.3 at the end of the calibration day; rounding the running
        // total then puts unit nth on that day (the day builds at least one unit, so the day before stays below nth).
        var scale = (nth + 0.3) / atCalibration;
        var plan = new List<(DateOnly Day, int Units)>(days.Count);
        var total = 0.0;
        var built = 0;
        foreach (var (day, raw) in days)
        {
            total += raw * scale;
            var now = (int)Math.Floor(total + 0.5);
            if (day <= LastDay) plan.Add((day, now - built));
            built = now;
        }

        return plan;
    }

    private double Reduction(DateOnly day)
    {
        var factor = 1.0;
        foreach (var reduced in _profile.ReducedDays)
        {
            if (day >= reduced.From && day <= reduced.To) factor = Math.Min(factor, reduced.Factor);
        }

        return factor;
    }

    private List<Unit> Build(List<(DateOnly Day, int Units)> plan)
    {
        var units = new List<Unit>();
        foreach (var (day, count) in plan)
        {
            // Two shifts, 06:00 to 22:30: the day's units spread over them in order.
            var slot = TimeSpan.FromHours(16.5) / Math.Max(count, 1);
            var model = _profile.Models.Last(m => m.From <= day);
            var lines = _profile.Lines.Where(l => l.From <= day).Select(l => (l.Line, l.Share)).ToList();
            for (var i = 0; i < count; i++)
            {
                var nth = units.Count + 1;
                var random = DemoRandom.For(_seed, _profile.FactoryId, "unit", nth.ToString(CultureInfo.InvariantCulture));
                var builtAt = Local(day, TimeSpan.FromHours(6) + (slot * (i + random.Between(0.15, 0.85))));
                var serial = $"{_profile.SerialPrefix}-{day.Year}-{nth:D6}";
                var line = random.Pick(lines);
                var unit = new Unit(serial, nth, model.NameplateKwh, _profile.Named.Contains(nth), _profile.ForcedRegions.GetValueOrDefault(nth));
                Add(unit, _mes, new UnitBuilt(_profile.FactoryId, line, model.Model, model.NameplateKwh), builtAt);
                Test(unit, random, day, builtAt);
                units.Add(unit);
            }
        }

        return units;
    }

    /// <summary>End-of-line test; a failure is reworked and retested, and a unit failing three times is scrapped.</summary>
    private void Test(Unit unit, DemoRandom random, DateOnly day, DateTimeOffset builtAt)
    {
        var at = builtAt.AddHours(random.Between(2.0, 9.0));
        if (!unit.Named && random.Chance(0.0003))
        {
            Add(unit, _test, new UnitScrapped("Enclosure damaged by a forklift before test; written off"), at);
            return;
        }

        var firstPass = Interpolate(_profile.FirstPassYield, day);
        for (var failures = 0; ; failures++)
        {
            var station = random.Pick(_profile.TestStations);
            var passes = unit.Named || random.Chance(failures == 0 ? firstPass : 0.86);
            var measuredKwh = Math.Round(unit.NameplateKwh * (decimal)random.Between(0.996, 1.009), 1);
            var efficiency = Math.Round((decimal)random.Between(0.905, 0.935), 3);
            if (passes)
            {
                Add(unit, _test, new UnitTested(station, TestOutcome.Passed, measuredKwh, efficiency), at);
                unit.ReadyAt = at.AddHours(random.Between(18.0, 60.0)); // packed and staged for the dock
                return;
            }

            var failure = Failures[random.Pick(FailureWeights)];
            if (failure.LowEnergy) measuredKwh = Math.Round(unit.NameplateKwh * (decimal)random.Between(0.93, 0.975), 1);
            if (failure.LowEfficiency) efficiency = Math.Round((decimal)random.Between(0.84, 0.885), 3);
            Add(unit, _test, new UnitTested(station, TestOutcome.Failed, measuredKwh, efficiency, failure.Code), at);
            if (failures == 2)
            {
                Add(unit, _test, new UnitScrapped($"Failed end-of-line test three times ({failure.Code}); cell modules recycled"), at.AddHours(random.Between(20.0, 60.0)));
                return;
            }

            // Sometimes the unit was fine and the station was not: the history says so rather than showing a plain retest.
            var repair = random.Chance(0.1) ? "No fault found; retested after a station calibration check" : failure.Repair;
            var reworkedAt = at.AddHours(random.Between(8.0, 72.0));
            Add(unit, _test, new UnitReworked(repair, random.Pick(_profile.ReworkStations)), reworkedAt);
            at = reworkedAt.AddHours(random.Between(1.0, 6.0));
        }
    }

    /// <summary>
    /// The dock, Monday to Saturday: it keeps about a day and a half of production in stock and ships the rest, oldest
    /// first, in shipments to one site each. Some shipments are cancelled while under way and their units return to stock.
    /// </summary>
    private void Ship(List<Unit> units)
    {
        var random = DemoRandom.For(_seed, _profile.FactoryId, "logistics");
        var stock = new PriorityQueue<Unit, (DateTimeOffset, int)>();
        foreach (var unit in units.Where(u => u.ReadyAt is not null)) stock.Enqueue(unit, (unit.ReadyAt!.Value, unit.Nth));
        var builtPerDay = PlanRates(units);
        var waiting = new List<Unit>();
        var shipmentsThisYear = (Year: 0, Count: 0);

        for (var day = _profile.DockOpens; day <= LastDay; day = day.AddDays(1))
        {
            var dockAt = Local(day, TimeSpan.FromHours(15) + TimeSpan.FromMinutes(random.Between(0, 180)));
            if (day.DayOfWeek == DayOfWeek.Sunday) continue;
            while (stock.TryPeek(out var next, out var ready) && ready.Item1 <= dockAt)
            {
                stock.Dequeue();
                waiting.Add(next);
            }

            var buffer = (int)Math.Round(1.5 * builtPerDay.GetValueOrDefault(day, 0));
            var toShip = waiting.Count - buffer;
            while (toShip > 0)
            {
                var region = random.Pick(_profile.Markets.Last(m => m.From <= day).Regions);
                var route = _profile.Routes[region];
                var size = random.Between(route.MinUnits, route.MaxUnits);
                if (size > toShip)
                {
                    // A part load waits for more units, unless it has waited long enough already.
                    if (toShip < route.MinUnits && dockAt - waiting[0].ReadyAt!.Value < TimeSpan.FromDays(6)) break;
                    size = toShip;
                }

                var load = waiting.GetRange(0, size);
                waiting.RemoveRange(0, size);
                toShip -= size;
                if (load.Select(u => u.ForcedRegion).FirstOrDefault(r => r is not null) is { } forced && forced != region)
                {
                    region = forced;
                    route = _profile.Routes[region];
                }

                if (shipmentsThisYear.Year != day.Year) shipmentsThisYear = (day.Year, 0);
                shipmentsThisYear.Count++;
                var shipmentId = $"SHP-{_profile.SerialPrefix}-{day.Year}-{shipmentsThisYear.Count:D5}";
                var country = random.Pick(Destinations.Countries[region]);
                var destination = new Destination(country, random.Pick(Destinations.Sites[country]));
                var carrier = random.Pick(route.Carriers);
                var shippedAt = dockAt.AddMinutes(random.Between(0, 90));
                var cancelled = random.Chance(0.012) && !load.Any(u => u.Named);
                var cancelledAt = shippedAt.AddHours(random.Between(20.0, 90.0));
                var cancellation = random.Pick(CancellationReasons);
                var arrival = shippedAt.AddDays(random.Between(route.MinTransitDays, route.MaxTransitDays)).ToUniversalTime();
                for (var i = 0; i < load.Count; i++)
                {
                    var unit = load[i];
                    Add(unit, _logistics, new UnitShipped(destination, carrier, shipmentId), shippedAt.AddMinutes(2 * i));
                    if (cancelled)
                    {
                        Add(unit, _logistics, new ShipmentCancelled(shipmentId, cancellation), cancelledAt);
                        unit.ReadyAt = cancelledAt.AddHours(random.Between(24.0, 72.0));
                        stock.Enqueue(unit, (unit.ReadyAt.Value, unit.Nth));
                        continue;
                    }

                    var deliveredAt = arrival.AddHours(random.Between(0.0, 36.0));
                    if (!unit.Named && random.Chance(0.0008))
                    {
                        Add(unit, _logistics, new UnitScrapped("Enclosure damaged in transit; written off after inspection"), deliveredAt);
                        continue;
                    }

                    Add(unit, _logistics, new UnitDelivered(destination.Site), deliveredAt);
                    var commissionedAt = deliveredAt.AddDays(CommissioningDays(destination.Site) + random.Between(0.0, 21.0));
                    Add(unit, _field, new UnitCommissioned(destination.Site), commissionedAt);
                }
            }
        }
    }

    /// <summary>Units built per local day, for the dock's stock target.</summary>
    private static Dictionary<DateOnly, int> PlanRates(List<Unit> units) =>
        units.GroupBy(u => DateOnly.FromDateTime(u.Events[0].OccurredAt.DateTime)).ToDictionary(g => g.Key, g => g.Count());

    /// <summary>How long a site takes from a unit's delivery to its grid connection: a property of the project.</summary>
    private double CommissioningDays(string site) => 25 + (DemoRandom.Hash(_seed, "site", site) % 85);

    private void Add(Unit unit, string actor, IUnitEvent data, DateTimeOffset at)
    {
        var version = unit.Events.Count + 1;
        unit.Events.Add(new DemoEvent(unit.Serial, _profile.FactoryId, actor, version, EventId(unit.Serial, version, at), data, at));
    }

    /// <summary>A UUID version 7 of the event's moment, its random bits drawn from the seed, serial and version.</summary>
    private Guid EventId(string serial, int version, DateTimeOffset at)
    {
        Span<byte> bytes = stackalloc byte[16];
        BinaryPrimitives.WriteUInt64BigEndian(bytes, (ulong)at.ToUnixTimeMilliseconds() << 16);
        var version7 = version.ToString(CultureInfo.InvariantCulture);
        BinaryPrimitives.WriteUInt64BigEndian(bytes[8..], DemoRandom.Hash(_seed, serial, version7));
        var extra = DemoRandom.Hash(_seed, serial, version7, "a");
        bytes[6] = (byte)(0x70 | (int)(extra & 0x0F));
        bytes[7] = (byte)(extra >> 8);
        bytes[8] = (byte)(0x80 | (bytes[8] & 0x3F));
        return new Guid(bytes, bigEndian: true);
    }

    private DateTimeOffset Local(DateOnly day, TimeSpan timeOfDay)
    {
        var local = day.ToDateTime(TimeOnly.MinValue, DateTimeKind.Unspecified) + timeOfDay;
        return new DateTimeOffset(local, _zone.GetUtcOffset(local));
    }

    private static double Interpolate(IReadOnlyList<CurvePoint> curve, DateOnly day)
    {
        if (day <= curve[0].Day) return curve[0].Value;
        for (var i = 1; i < curve.Count; i++)
        {
            if (day > curve[i].Day) continue;
            var (a, b) = (curve[i - 1], curve[i]);
            var t = (double)(day.DayNumber - a.Day.DayNumber) / (b.Day.DayNumber - a.Day.DayNumber);
            return a.Value + (t * (b.Value - a.Value));
        }

        return curve[^1].Value;
    }

    private sealed class Unit(string serial, int nth, decimal nameplateKwh, bool named, string? forcedRegion)
    {
        public string Serial { get; } = serial;
        public int Nth { get; } = nth;
        public decimal NameplateKwh { get; } = nameplateKwh;

        /// <summary>A unit the public record names (a milestone): it passes, and is never cancelled or lost.</summary>
        public bool Named { get; } = named;

        public string? ForcedRegion { get; } = forcedRegion;

        /// <summary>When it is in stock and may ship; null for a unit scrapped at the factory.</summary>
        public DateTimeOffset? ReadyAt { get; set; }

        public List<DemoEvent> Events { get; } = [];
    }
}
