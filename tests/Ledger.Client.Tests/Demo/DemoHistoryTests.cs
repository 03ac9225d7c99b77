using Ledger.Demo;
using Ledger.Production.Factories;
using Ledger.Production.Geography;
using Ledger.Production.Units;
using Ledger.Production.Units.Validation;

namespace Ledger.Client.Tests.Demo;

/// <summary>
/// The demo history agrees with the public record (/work/shared/DOMAIN.md, docs/domain.md), every event of it is one the
/// ledger accepts, and the same seed makes the same history.
/// </summary>
public sealed class DemoHistoryTests
{
    /// <summary>The present of these tests: the day the demo was written for.</summary>
    private static readonly DateTimeOffset Present = new(2026, 11, 22, 7, 0, 0, TimeSpan.Zero);

    private static readonly Lazy<DemoHistory> Full = new(() => DemoHistory.Generate(new DemoHistoryOptions { Until = Present }));
    private static readonly TimeZoneInfo LathropTime = TimeZoneInfo.FindSystemTimeZoneById("America/Los_Angeles");
    private static readonly TimeZoneInfo ShanghaiTime = TimeZoneInfo.FindSystemTimeZoneById("Asia/Shanghai");

    private static DemoHistory History => Full.Value;

    private static DateOnly LocalDate(DateTimeOffset at, TimeZoneInfo zone) => DateOnly.FromDateTime(TimeZoneInfo.ConvertTime(at, zone).DateTime);

    private static List<DemoEvent> Builds(string factory) =>
        [.. History.Events.Where(e => e.FactoryId == factory && e.Data is UnitBuilt)];

    private static IEnumerable<DemoEvent> EventsOf(string serial) => History.Events.Where(e => e.Serial == serial).OrderBy(e => e.Version);

    [Fact]
    public void Lathrop_builds_from_2022_and_its_10000th_unit_in_November_2024()
    {
        var builds = Builds("lathrop");

        Assert.Equal(2022, LocalDate(builds[0].OccurredAt, LathropTime).Year);
        var tenThousandth = builds[9_999];
        Assert.Equal("LTH-2024-010000", tenThousandth.Serial);
        var day = LocalDate(tenThousandth.OccurredAt, LathropTime);
        Assert.Equal((2024, 11), (day.Year, day.Month));
        Assert.True(builds.Count > 25_000, $"Lathrop keeps building to the present: {builds.Count} units");
        Assert.Equal(LocalDate(Present, LathropTime), LocalDate(builds.Max(b => b.OccurredAt), LathropTime));
    }

    [Fact]
    public void Shanghai_builds_its_first_unit_on_2025_02_11()
    {
        var first = Builds("shanghai")[0];

        Assert.Equal(("SHA-2025-000001", new DateOnly(2025, 2, 11)), (first.Serial, LocalDate(first.OccurredAt, ShanghaiTime)));
    }

    [Fact]
    public void Shanghais_1000th_unit_comes_off_the_line_in_under_six_months_at_more_than_188_units_a_month()
    {
        var thousandth = Builds("shanghai")[999];
        var day = LocalDate(thousandth.OccurredAt, ShanghaiTime);

        Assert.Equal("SHA-2025-001000", thousandth.Serial);
        Assert.True(day < new DateOnly(2025, 8, 11), $"built on {day}");
        var months = (day.DayNumber - new DateOnly(2025, 2, 11).DayNumber + 1) / (365.25 / 12);
        Assert.True(1000 / months > 188, $"{1000 / months:0.0} units a month on average");
    }

    [Fact]
    public void Shanghais_1000th_unit_is_shipped_to_Europe()
    {
        var shipments = EventsOf("SHA-2025-001000").Select(e => e.Data).OfType<UnitShipped>().ToList();

        var shipment = Assert.Single(shipments);
        Assert.Equal(MarketRegions.Europe, MarketRegions.Of(shipment.Destination.Country));
        Assert.DoesNotContain(EventsOf("SHA-2025-001000"), e => e.Data is ShipmentCancelled or UnitScrapped);
    }

    [Fact]
    public void At_its_1000th_unit_Shanghai_runs_at_about_2000_units_a_year_and_is_still_ramping()
    {
        var days = Builds("shanghai").Select(b => LocalDate(b.OccurredAt, ShanghaiTime)).ToList();
        var day = days[999];

        // The read model's run rate: units built in the 30 local days ending that day, annualized.
        var trailing = days.Count(d => d > day.AddDays(-30) && d <= day);
        var runRate = trailing * 365.0 / 30;
        Assert.InRange(runRate, 2_000, 2_500);
        var next = days.Count(d => d > day && d <= day.AddDays(30));
        Assert.True(next > trailing * 1.05, $"{trailing} units in the 30 days to the 1,000th, {next} in the 30 days after");
        var december = days.Count(d => d.Year == 2025 && d.Month == 12);
        Assert.True(december > 1.5 * trailing, $"{december} units in December 2025");
    }

    [Fact]
    public void Shanghais_first_exports_go_to_Australia_in_March_2025()
    {
        var shipments = History.Events.Where(e => e.FactoryId == "shanghai" && e.Data is UnitShipped).ToList();
        var first = shipments[0];

        Assert.Equal(MarketRegions.Australia, MarketRegions.Of(((UnitShipped)first.Data).Destination.Country));
        var day = LocalDate(first.OccurredAt, ShanghaiTime);
        Assert.Equal((2025, 3), (day.Year, day.Month));
        Assert.All(shipments.Where(s => LocalDate(s.OccurredAt, ShanghaiTime) < new DateOnly(2025, 4, 1)),
            s => Assert.Equal(MarketRegions.Australia, MarketRegions.Of(((UnitShipped)s.Data).Destination.Country)));
    }

    [Fact]
    public void Waller_County_builds_nothing()
    {
        Assert.DoesNotContain(History.Events, e => e.FactoryId == "waller");
        Assert.Equal(["lathrop", "shanghai"], History.Actors.Select(a => a.FactoryId).Distinct());
        Assert.Throws<ArgumentException>(() => DemoHistory.Generate(new DemoHistoryOptions { Until = Present, Factories = ["waller"] }));
    }

    [Fact]
    public void Every_units_history_is_accepted_by_the_ledgers_validators_and_rules()
    {
        var validator = new UnitEventValidator();
        var invalid = History.Events.Select(e => (e, Result: validator.Validate(e.Data))).Where(x => !x.Result.IsValid).Take(3).ToList();
        Assert.True(invalid.Count == 0, string.Join("; ", invalid.Select(x => $"{x.e.Serial} v{x.e.Version}: {x.Result}")));

        var refused = new List<string>();
        foreach (var unit in History.Events.GroupBy(e => e.Serial))
        {
            var events = unit.OrderBy(e => e.Version).ToList();
            Assert.Equal(Enumerable.Range(1, events.Count), events.Select(e => e.Version));
            var decision = UnitRules.DecideBatch(UnitState.Initial, [.. events.Select(e => new OccurredEvent(e.Data, e.OccurredAt))], Present, InMemoryFactoryRegistry.Seeded);
            if (!decision.IsAccepted) refused.Add($"{unit.Key} event {decision.RejectedIndex}: {decision.Rejection}");
        }

        Assert.Empty(refused);
        Assert.True(History.Events.All(e => e.OccurredAt <= Present), "nothing happens after the present");
        Assert.Equal(History.Events.Count, History.Events.Select(e => e.EventId).Distinct().Count());
    }

    [Fact]
    public void Units_fail_tests_and_are_reworked_and_retested()
    {
        var tested = History.Events.Where(e => e.Data is UnitTested).GroupBy(e => e.Serial).ToList();
        var failedFirst = tested.Count(t => !((UnitTested)t.OrderBy(e => e.Version).First().Data).Passed);
        var retestedAndPassed = tested.Count(t => t.Count() > 1 && ((UnitTested)t.OrderBy(e => e.Version).Last().Data).Passed);

        Assert.InRange(failedFirst / (double)tested.Count, 0.02, 0.08);
        Assert.True(retestedAndPassed > failedFirst * 0.8, $"{retestedAndPassed} of {failedFirst} failed units passed a retest");
        Assert.Contains(History.Events, e => e.Data is UnitReworked { Reason: var reason } && reason.StartsWith("No fault found", StringComparison.Ordinal));
        Assert.Contains(History.Events, e => e.Data is UnitScrapped);
    }

    [Fact]
    public void Shipments_go_to_several_countries_in_each_region()
    {
        var countries = History.Events.Select(e => e.Data).OfType<UnitShipped>().Select(s => s.Destination.Country).Distinct()
            .GroupBy(MarketRegions.Of).ToDictionary(g => g.Key, g => g.Count());

        Assert.True(countries[MarketRegions.Europe] >= 6, $"{countries[MarketRegions.Europe]} European countries");
        Assert.True(countries[MarketRegions.NorthAmerica] >= 3);
        Assert.True(countries[MarketRegions.Australia] >= 2);
        Assert.True(countries[MarketRegions.AsiaPacific] >= 3);
        Assert.Contains(MarketRegions.China, countries.Keys);
    }

    [Fact]
    public void Delivery_and_commissioning_lag_shipment_so_some_units_are_in_transit_and_some_await_commissioning()
    {
        var stages = History.Events.GroupBy(e => e.Serial)
            .Select(u => UnitRules.Fold(u.OrderBy(e => e.Version).Select(e => new OccurredEvent(e.Data, e.OccurredAt))))
            .ToList();

        Assert.True(stages.Count(s => s.Stage == UnitStage.InTransit) > 100, "in transit at the present");
        Assert.True(stages.Count(s => s.Stage == UnitStage.Delivered) > 500, "delivered, awaiting commissioning at the present");
        Assert.True(stages.Count(s => s.Stage == UnitStage.Commissioned) > stages.Count / 2, "most units commissioned");
        var transit = stages.Where(s => s.DeliveredAt is not null).Select(s => (s.DeliveredAt - s.Shipment!.ShippedAt)!.Value).ToList();
        Assert.True(transit.Min() >= TimeSpan.FromDays(1.5), $"the shortest delivery took {transit.Min()}");
        var commissioning = stages.Where(s => s.CommissionedAt is not null).Select(s => (s.CommissionedAt - s.DeliveredAt)!.Value).ToList();
        Assert.True(commissioning.Min() >= TimeSpan.FromDays(25), $"the quickest commissioning took {commissioning.Min()}");
        Assert.True(commissioning.Average(c => c.TotalDays) > 45, $"commissioning takes {commissioning.Average(c => c.TotalDays):0} days on average");
    }

    [Fact]
    public void Nameplate_energy_is_about_3900_kWh_and_differs_by_model_and_revision()
    {
        var builds = History.Events.Select(e => e.Data).OfType<UnitBuilt>().ToList();

        Assert.All(builds, b => Assert.InRange(b.NameplateKwh, 3_800m, 4_000m));
        var variants = builds.Select(b => (b.Model, b.NameplateKwh)).Distinct().ToList();
        Assert.True(variants.Select(v => v.Model).Distinct().Count() >= 2, string.Join(", ", variants));
        Assert.True(variants.Count >= 3, string.Join(", ", variants));
    }

    [Fact]
    public void Each_event_is_posted_by_a_line_system_of_its_factory_in_the_order_of_a_units_life()
    {
        var actors = History.Actors.ToDictionary(a => a.Name);

        Assert.All(History.Events, e => Assert.Equal(e.FactoryId, actors[e.Actor].FactoryId));
        Assert.All(History.Events.Where(e => e.Data is UnitBuilt), e => Assert.Equal(0, actors[e.Actor].Order));
        foreach (var unit in History.Events.GroupBy(e => e.Serial).Take(2_000))
        {
            var order = unit.OrderBy(e => e.Version).Select(e => actors[e.Actor].Order).ToList();
            Assert.Equal(order.Order(), order);
        }
    }

    [Fact]
    public void The_same_seed_makes_the_same_history()
    {
        var again = DemoHistory.Generate(new DemoHistoryOptions { Until = Present });

        Assert.Equal(Fingerprint(History), Fingerprint(again));
    }

    [Fact]
    public void Another_seed_makes_another_history_with_the_same_milestones()
    {
        var options = new DemoHistoryOptions { Until = new DateTimeOffset(2025, 8, 31, 0, 0, 0, TimeSpan.Zero), Factories = ["shanghai"] };
        var one = DemoHistory.Generate(options);
        var other = DemoHistory.Generate(options with { Seed = 7 });

        Assert.NotEqual(Fingerprint(one), Fingerprint(other));
        var thousandth = other.Events.Where(e => e.Data is UnitBuilt).ElementAt(999);
        Assert.True(LocalDate(thousandth.OccurredAt, ShanghaiTime) < new DateOnly(2025, 8, 11));
        Assert.Equal(MarketRegions.Europe, other.Events.Where(e => e.Serial == thousandth.Serial).Select(e => e.Data).OfType<UnitShipped>()
            .Select(s => MarketRegions.Of(s.Destination.Country)).Single());
    }

    [Fact]
    public void A_factorys_history_does_not_depend_on_which_others_are_made_with_it()
    {
        var alone = DemoHistory.Generate(new DemoHistoryOptions { Until = Present, Factories = ["shanghai"] });

        Assert.Equal(Fingerprint(History, "shanghai"), Fingerprint(alone));
    }

    [Fact]
    public void An_earlier_present_cuts_the_same_history_short()
    {
        var earlier = new DateTimeOffset(2025, 9, 30, 12, 0, 0, TimeSpan.Zero);
        var options = new DemoHistoryOptions { Until = new DateTimeOffset(2026, 3, 31, 0, 0, 0, TimeSpan.Zero), Factories = ["shanghai"] };
        var longer = DemoHistory.Generate(options);
        var shorter = DemoHistory.Generate(options with { Until = earlier });

        Assert.Equal(Fingerprint(longer, until: earlier), Fingerprint(shorter));
    }

    private static List<string> Fingerprint(DemoHistory history, string? factory = null, DateTimeOffset? until = null) =>
    [
        .. history.Events
            .Where(e => (factory is null || e.FactoryId == factory) && (until is null || e.OccurredAt <= until))
            .Select(e => $"{e.Serial} {e.Version} {e.EventId} {e.Actor} {e.OccurredAt:O} {UnitEvents.Of(e.Data).ApiName} {UnitEvents.Serialize(e.Data)}"),
    ];
}
