using Ledger.EventStore;
using Ledger.Production.Factories;
using Ledger.Production.Geography;
using Ledger.Production.Units;

namespace Ledger.ReadModels.Tests.Support;

/// <summary>
/// The read models' answers computed independently, in memory, by folding each unit's events in stream order: no SQL,
/// no batches, none of the projection code. If the projections and this disagree, one of them is wrong.
/// </summary>
internal sealed class Reference
{
    public sealed class Day
    {
        public long Built, Passed, Failed, FirstTests, FirstPassed, Shipped;
        public decimal BuiltKwh, ShippedKwh;
    }

    public sealed class Place
    {
        public long Shipped, Delivered, Commissioned;
        public decimal ShippedKwh, DeliveredKwh, CommissionedKwh;
    }

    public sealed record Build(string FactoryId, string Serial, DateTimeOffset At, long Position, DateOnly LocalDate);

    public sealed record Shipment(
        string FactoryId, string Region, string Country, string Serial, DateTimeOffset At, long Position, DateOnly LocalDate)
    {
        public bool Cancelled { get; set; }
    }

    public Dictionary<(string Factory, DateOnly Day), Day> FactoryDays { get; } = [];
    public Dictionary<(DateOnly Day, string Region, string Country, string Site), Place> DeploymentDays { get; } = [];
    public List<Build> Builds { get; } = [];
    public List<Shipment> Shipments { get; } = [];
    public List<(string Region, string Country, string Site, decimal Kwh)> InTransit { get; } = [];

    public static Reference Of(IEnumerable<RecordedEvent> feed)
    {
        var reference = new Reference();
        foreach (var unit in feed.Where(e => UnitEvents.TryFindByStoredName(e.Type, out _))
                     .GroupBy(e => e.StreamId).Select(g => g.OrderBy(e => e.StreamVersion).ToList()))
        {
            reference.Fold(unit);
        }

        return reference;
    }

    private void Fold(List<RecordedEvent> stream)
    {
        string factory = "";
        decimal kwh = 0;
        var tested = false;
        DateOnly? shippedLocal = null;
        (DateOnly Day, string Region, string Country, string Site)? shipment = null;
        Shipment? current = null;
        var inTransit = false;
        foreach (var recorded in stream)
        {
            UnitEvents.TryFindByStoredName(recorded.Type, out var type);
            var local = factory.Length > 0 ? LocalDate(factory, recorded.OccurredAt) : default;
            var utc = DateOnly.FromDateTime(recorded.OccurredAt.UtcDateTime);
            switch (type!.Deserialize(recorded.Data))
            {
                case UnitBuilt built:
                    factory = built.FactoryId;
                    kwh = built.NameplateKwh;
                    local = LocalDate(factory, recorded.OccurredAt);
                    F(local).Built++;
                    F(local).BuiltKwh += kwh;
                    Builds.Add(new Build(factory, recorded.StreamId, recorded.OccurredAt, recorded.Position, local));
                    break;
                case UnitTested test:
                    if (test.Result == TestOutcome.Passed) F(local).Passed++;
                    else F(local).Failed++;
                    if (!tested)
                    {
                        tested = true;
                        F(local).FirstTests++;
                        if (test.Result == TestOutcome.Passed) F(local).FirstPassed++;
                    }

                    break;
                case UnitShipped shipped:
                    F(local).Shipped++;
                    F(local).ShippedKwh += kwh;
                    shippedLocal = local;
                    var region = MarketRegions.Of(shipped.Destination.Country);
                    shipment = (utc, region, shipped.Destination.Country, shipped.Destination.Site);
                    D(shipment.Value).Shipped++;
                    D(shipment.Value).ShippedKwh += kwh;
                    inTransit = true;
                    current = new Shipment(factory, region, shipped.Destination.Country, recorded.StreamId,
                        recorded.OccurredAt, recorded.Position, local);
                    Shipments.Add(current);
                    break;
                case ShipmentCancelled:
                    F(shippedLocal!.Value).Shipped--;
                    F(shippedLocal.Value).ShippedKwh -= kwh;
                    D(shipment!.Value).Shipped--;
                    D(shipment.Value).ShippedKwh -= kwh;
                    current!.Cancelled = true;
                    shipment = null;
                    inTransit = false;
                    break;
                case UnitDelivered:
                    D(shipment!.Value with { Day = utc }).Delivered++;
                    D(shipment.Value with { Day = utc }).DeliveredKwh += kwh;
                    inTransit = false;
                    break;
                case UnitCommissioned:
                    D(shipment!.Value with { Day = utc }).Commissioned++;
                    D(shipment.Value with { Day = utc }).CommissionedKwh += kwh;
                    break;
                case UnitScrapped:
                    inTransit = false;
                    break;
            }
        }

        if (inTransit) InTransit.Add((shipment!.Value.Region, shipment.Value.Country, shipment.Value.Site, kwh));

        Day F(DateOnly day) => FactoryDays.TryGetValue((factory, day), out var d) ? d : FactoryDays[(factory, day)] = new Day();

        Place D((DateOnly, string, string, string) key) =>
            DeploymentDays.TryGetValue(key, out var p) ? p : DeploymentDays[key] = new Place();
    }

    public static DateOnly LocalDate(string factoryId, DateTimeOffset at)
    {
        InMemoryFactoryRegistry.Seeded.TryFind(factoryId, out var factory);
        var zone = TimeZoneInfo.FindSystemTimeZoneById(factory!.TimeZoneId);
        return DateOnly.FromDateTime(TimeZoneInfo.ConvertTimeFromUtc(at.UtcDateTime, zone));
    }

    public static DateOnly BucketStart(DateOnly day, CalendarBucket bucket) => bucket switch
    {
        CalendarBucket.Day => day,
        CalendarBucket.IsoWeek => day.AddDays(-(((int)day.DayOfWeek + 6) % 7)),
        CalendarBucket.Month => new DateOnly(day.Year, day.Month, 1),
        CalendarBucket.Quarter => new DateOnly(day.Year, (day.Month - 1) / 3 * 3 + 1, 1),
        CalendarBucket.Year => new DateOnly(day.Year, 1, 1),
        _ => throw new ArgumentOutOfRangeException(nameof(bucket)),
    };

    public IReadOnlyList<FactoryThroughputRow> Throughput(Factory factory, DateOnly from, DateOnly to, CalendarBucket bucket)
    {
        Day At(DateOnly day) => FactoryDays.GetValueOrDefault((factory.Id, day)) ?? new Day();
        long BuiltBetween(DateOnly first, DateOnly last) =>
            FactoryDays.Where(d => d.Key.Factory == factory.Id && d.Key.Day >= first && d.Key.Day <= last).Sum(d => d.Value.Built);

        var rows = new List<FactoryThroughputRow>();
        var days = Enumerable.Range(0, to.DayNumber - from.DayNumber + 1).Select(from.AddDays);
        foreach (var group in days.GroupBy(d => BucketStart(d, bucket)))
        {
            var inBucket = group.Select(At).ToList();
            var last = group.Max();
            long firstTests = inBucket.Sum(d => d.FirstTests), firstPassed = inBucket.Sum(d => d.FirstPassed);
            var trailing = BuiltBetween(last.AddDays(-29), last);
            var runRate = trailing * 365m / 30m;
            rows.Add(new FactoryThroughputRow(
                group.Key, last, inBucket.Sum(d => d.Built), inBucket.Sum(d => d.Passed), inBucket.Sum(d => d.Failed),
                firstTests, firstPassed, firstTests == 0 ? null : (decimal)firstPassed / firstTests,
                inBucket.Sum(d => d.Shipped), inBucket.Sum(d => d.BuiltKwh) / 1000m, inBucket.Sum(d => d.ShippedKwh) / 1000m,
                BuiltBetween(DateOnly.MinValue, last), trailing, runRate,
                factory.NameplateUnitsPerYear is { } nameplate ? runRate / nameplate : null));
        }

        return rows;
    }

    public IReadOnlyList<UnitMilestone> UnitMilestones() =>
        Builds.GroupBy(b => b.FactoryId).OrderBy(g => g.Key, StringComparer.Ordinal)
            .SelectMany(g => g.OrderBy(b => b.At).ThenBy(b => b.Position)
                .Select((b, i) => (Build: b, Nth: i + 1L))
                .Where(x => x.Nth == 1 || x.Nth % 1000 == 0)
                .Select(x => new UnitMilestone(x.Build.FactoryId, x.Nth, x.Build.Serial, x.Build.At, x.Build.LocalDate)))
            .ToList();

    public IReadOnlyList<FirstShipmentMilestone> FirstShipments() =>
        Shipments.Where(s => !s.Cancelled)
            .GroupBy(s => (s.FactoryId, s.Region))
            .OrderBy(g => g.Key.FactoryId, StringComparer.Ordinal).ThenBy(g => g.Key.Region, StringComparer.Ordinal)
            .Select(g => g.OrderBy(s => s.At).ThenBy(s => s.Position).First())
            .Select(s => new FirstShipmentMilestone(s.FactoryId, s.Region, s.Serial, s.Country, s.At, s.LocalDate))
            .ToList();

    public IReadOnlyList<DeploymentRow> Deployments(
        DeploymentGrouping groupBy, CalendarBucket bucket, DateOnly from, DateOnly to, string? region)
    {
        return DeploymentDays
            .Where(d => d.Key.Day >= from && d.Key.Day <= to && (region is null || d.Key.Region == region))
            .GroupBy(d => (
                Start: BucketStart(d.Key.Day, bucket), d.Key.Region,
                Country: groupBy >= DeploymentGrouping.Country ? d.Key.Country : null,
                Site: groupBy >= DeploymentGrouping.Site ? d.Key.Site : null))
            .Select(g => new DeploymentRow(g.Key.Start, g.Key.Region, g.Key.Country, g.Key.Site,
                g.Sum(d => d.Value.Shipped), g.Sum(d => d.Value.ShippedKwh) / 1000m,
                g.Sum(d => d.Value.Delivered), g.Sum(d => d.Value.DeliveredKwh) / 1000m,
                g.Sum(d => d.Value.Commissioned), g.Sum(d => d.Value.CommissionedKwh) / 1000m))
            .Where(r => r.UnitsShipped != 0 || r.UnitsDelivered != 0 || r.UnitsCommissioned != 0)
            .OrderBy(r => r.BucketStart).ThenBy(r => r.Region, StringComparer.Ordinal)
            .ThenBy(r => r.Country, StringComparer.Ordinal).ThenBy(r => r.Site, StringComparer.Ordinal)
            .ToList();
    }

    public IReadOnlyList<InTransitRow> InTransitNow(DeploymentGrouping groupBy, string? region) =>
        InTransit.Where(u => region is null || u.Region == region)
            .GroupBy(u => (u.Region,
                Country: groupBy >= DeploymentGrouping.Country ? u.Country : null,
                Site: groupBy >= DeploymentGrouping.Site ? u.Site : null))
            .Select(g => new InTransitRow(g.Key.Region, g.Key.Country, g.Key.Site, g.Count(), g.Sum(u => u.Kwh) / 1000m))
            .OrderBy(r => r.Region, StringComparer.Ordinal).ThenBy(r => r.Country, StringComparer.Ordinal)
            .ThenBy(r => r.Site, StringComparer.Ordinal)
            .ToList();
}
