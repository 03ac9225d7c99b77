using Ledger.Production.Geography;
using Ledger.Production.Tests.Support;
using Ledger.Production.Units;
using static Ledger.Production.Tests.Support.Sample;

namespace Ledger.Production.Tests.Units;

public sealed class StateSpecs
{
    private static DateTimeOffset At(int hour) => Scenario.Start.AddHours(hour);

    [Fact]
    public void A_new_stream_is_not_built_and_at_version_zero()
    {
        Assert.Equal(UnitStage.NotBuilt, UnitState.Initial.Stage);
        Assert.Equal(0, UnitState.Initial.Version);
        Assert.Null(UnitState.Initial.LastOccurredAt);
        Assert.Equal(UnitState.Initial, UnitRules.Fold([]));
    }

    [Fact]
    public void A_built_unit_remembers_its_factory_line_model_and_nameplate()
    {
        var state = Scenario.Given(Built).State;

        Assert.Equal(UnitStage.Built, state.Stage);
        Assert.Equal("shanghai", state.FactoryId);
        Assert.Equal("MP-L1", state.Line);
        Assert.Equal("Megapack 2 XL", state.Model);
        Assert.Equal(3916m, state.NameplateKwh);
        Assert.Equal(At(0), state.BuiltAt);
    }

    [Fact]
    public void The_latest_test_decides_between_passed_and_failed()
    {
        var failed = Scenario.Given(Built, Passed, Failed).State;
        var passed = Scenario.Given(Built, Failed, Reworked, Passed).State;

        Assert.Equal(UnitStage.Failed, failed.Stage);
        Assert.Equal(Failed, failed.LatestTest);
        Assert.Equal(At(2), failed.TestedAt);
        Assert.Equal(UnitStage.Passed, passed.Stage);
        Assert.Equal(Passed, passed.LatestTest);
        Assert.Equal(At(2), passed.ReworkedAt);
    }

    [Fact]
    public void Shipping_records_the_shipment_its_destination_and_the_destination_region()
    {
        var state = Scenario.Given(Built, Passed, Shipped).State;

        Assert.Equal(UnitStage.InTransit, state.Stage);
        Assert.Equal(
            new Shipment(ShipmentId, "COSCO Shipping", new Destination("AU", Site), MarketRegions.Australia, At(2)),
            state.Shipment);
        Assert.Equal(MarketRegions.Australia, state.Region);
    }

    [Fact]
    public void The_region_follows_the_destination_country()
    {
        var state = Scenario.Given(Built, Passed, Shipped with { Destination = new Destination("de", "Lausitz") }).State;

        Assert.Equal("DE", state.Shipment?.Destination.Country);
        Assert.Equal(MarketRegions.Europe, state.Region);
    }

    [Fact]
    public void A_cancelled_shipment_puts_the_unit_back_in_stock_as_passed()
    {
        var state = Scenario.Given(Built, Passed, Shipped, Cancelled).State;

        Assert.Equal(UnitStage.Passed, state.Stage);
        Assert.Null(state.Shipment);
        Assert.Null(state.Region);
        Assert.Equal(Passed, state.LatestTest);
    }

    [Fact]
    public void A_delivered_and_commissioned_unit_keeps_its_shipment_and_site()
    {
        var state = Scenario.Given(Built, Passed, Shipped, Delivered, Commissioned).State;

        Assert.Equal(UnitStage.Commissioned, state.Stage);
        Assert.Equal(Site, state.Site);
        Assert.Equal(ShipmentId, state.Shipment?.ShipmentId);
        Assert.Equal(At(3), state.DeliveredAt);
        Assert.Equal(At(4), state.CommissionedAt);
    }

    [Fact]
    public void A_scrapped_unit_records_when()
    {
        var state = Scenario.Given(Built, Scrapped).State;

        Assert.Equal(UnitStage.Scrapped, state.Stage);
        Assert.Equal(At(1), state.ScrappedAt);
    }

    [Fact]
    public void Every_event_advances_the_version_and_the_last_occurrence()
    {
        var state = Scenario.Given(Built, Failed, Reworked, Passed, Shipped).State;

        Assert.Equal(5, state.Version);
        Assert.Equal(At(4), state.LastOccurredAt);
    }

    [Fact]
    public void Evolving_applies_history_even_where_todays_rules_would_refuse_it()
    {
        // History is the truth: a stream written under older rules must still load.
        var state = UnitRules.Fold([new OccurredEvent(Built, At(0)), new OccurredEvent(Shipped, At(1))]);

        Assert.Equal(UnitStage.InTransit, state.Stage);
    }

    private sealed record Unknown : IUnitEvent;

    [Fact]
    public void Evolving_by_an_event_that_is_not_catalogued_throws() =>
        Assert.Throws<ArgumentException>(() =>
            UnitRules.Evolve(UnitState.Initial, new OccurredEvent(new Unknown(), At(0))));
}
