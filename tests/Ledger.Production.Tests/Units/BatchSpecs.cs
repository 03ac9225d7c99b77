using Ledger.Production.Factories;
using Ledger.Production.Tests.Support;
using Ledger.Production.Units;
using static Ledger.Production.Tests.Support.Sample;

namespace Ledger.Production.Tests.Units;

public sealed class BatchSpecs
{
    private static readonly DateTimeOffset Now = Scenario.Start.AddDays(30);

    private static List<OccurredEvent> Hourly(params IUnitEvent[] events) =>
        [.. events.Select((e, i) => new OccurredEvent(e, Scenario.Start.AddHours(i)))];

    [Fact]
    public void A_whole_life_in_one_batch_is_accepted()
    {
        var batch = Hourly(Built, Failed, Reworked, Passed, Shipped, Delivered, Commissioned);

        var result = UnitRules.DecideBatch(UnitState.Initial, batch, Now, InMemoryFactoryRegistry.Seeded);

        Assert.True(result.IsAccepted, result.Rejection?.ToString());
        Assert.Null(result.RejectedIndex);
        Assert.Equal(UnitStage.Commissioned, result.State.Stage);
        Assert.Equal(7, result.State.Version);
    }

    [Fact]
    public void Each_event_of_a_batch_is_decided_against_the_state_the_earlier_ones_leave()
    {
        // Shipping is fine after the batch's own passing test, and refused after its failing one.
        var passing = UnitRules.DecideBatch(
            UnitState.Initial, Hourly(Built, Passed, Shipped), Now, InMemoryFactoryRegistry.Seeded);
        var failing = UnitRules.DecideBatch(
            UnitState.Initial, Hourly(Built, Failed, Shipped), Now, InMemoryFactoryRegistry.Seeded);

        Assert.True(passing.IsAccepted, passing.Rejection?.ToString());
        Assert.Equal(2, failing.RejectedIndex);
        Assert.Equal(RejectionCodes.TestNotPassed, failing.Rejection?.Code);
    }

    [Fact]
    public void A_rejected_batch_reports_the_index_of_its_first_rejected_event_and_the_state_before_it()
    {
        var batch = Hourly(Built, Shipped, Delivered);

        var result = UnitRules.DecideBatch(UnitState.Initial, batch, Now, InMemoryFactoryRegistry.Seeded);

        Assert.False(result.IsAccepted);
        Assert.Equal(1, result.RejectedIndex);
        Assert.Equal(RejectionCodes.TestNotPassed, result.Rejection?.Code);
        Assert.Equal(UnitStage.Built, result.State.Stage);
        Assert.Equal(1, result.State.Version);
    }

    [Fact]
    public void A_batch_continues_the_stream_it_is_appended_to()
    {
        var history = UnitRules.Fold(Hourly(Built, Passed));
        var batch = new List<OccurredEvent>
        {
            new(Shipped, Scenario.Start.AddHours(2)),
            new(Delivered, Scenario.Start.AddHours(3)),
        };

        var result = UnitRules.DecideBatch(history, batch, Now, InMemoryFactoryRegistry.Seeded);

        Assert.True(result.IsAccepted, result.Rejection?.ToString());
        Assert.Equal(4, result.State.Version);
        Assert.Equal(UnitStage.Delivered, result.State.Stage);
    }

    [Fact]
    public void Events_of_a_batch_out_of_time_order_are_rejected()
    {
        var batch = new List<OccurredEvent>
        {
            new(Built, Scenario.Start.AddHours(2)),
            new(Passed, Scenario.Start.AddHours(1)),
        };

        var result = UnitRules.DecideBatch(UnitState.Initial, batch, Now, InMemoryFactoryRegistry.Seeded);

        Assert.Equal(1, result.RejectedIndex);
        Assert.Equal(RejectionCodes.OccurredBeforePreviousEvent, result.Rejection?.Code);
    }

    [Fact]
    public void An_empty_batch_is_accepted_and_changes_nothing()
    {
        var state = UnitRules.Fold(Hourly(Built));

        var result = UnitRules.DecideBatch(state, [], Now, InMemoryFactoryRegistry.Seeded);

        Assert.True(result.IsAccepted);
        Assert.Same(state, result.State);
    }
}
