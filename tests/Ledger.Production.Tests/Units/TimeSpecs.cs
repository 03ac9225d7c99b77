using Ledger.Production.Tests.Support;
using Ledger.Production.Units;
using static Ledger.Production.Tests.Support.Sample;

namespace Ledger.Production.Tests.Units;

public sealed class TimeSpecs
{
    [Fact]
    public void An_event_that_occurred_before_the_previous_event_is_rejected()
    {
        var scenario = Scenario.Given(Built, Passed);
        var previous = scenario.State.LastOccurredAt!.Value;

        scenario.When(Shipped, occurredAt: previous.AddTicks(-1), now: previous.AddHours(1))
            .ThenRejected(RejectionCodes.OccurredBeforePreviousEvent);
    }

    [Fact]
    public void An_event_at_the_same_moment_as_the_previous_event_is_accepted()
    {
        var scenario = Scenario.Given(Built, Passed);
        var previous = scenario.State.LastOccurredAt!.Value;

        scenario.When(Shipped, occurredAt: previous).ThenAccepted();
    }

    [Fact]
    public void Offsets_do_not_matter_when_comparing_with_the_previous_event()
    {
        var scenario = Scenario.Given(Built, Passed);
        var previous = scenario.State.LastOccurredAt!.Value;

        // The same instant written in Shanghai time is not earlier.
        scenario.When(Shipped, occurredAt: previous.ToOffset(TimeSpan.FromHours(8))).ThenAccepted();
    }

    [Fact]
    public void An_event_five_minutes_ahead_of_the_ledger_clock_is_accepted()
    {
        var scenario = Scenario.Given(Built);
        var now = scenario.Next;

        scenario.When(Passed, occurredAt: now + UnitRules.MaxClockSkew, now: now).ThenAccepted();
    }

    [Fact]
    public void An_event_more_than_five_minutes_ahead_of_the_ledger_clock_is_rejected()
    {
        var scenario = Scenario.Given(Built);
        var now = scenario.Next;

        scenario.When(Passed, occurredAt: now + TimeSpan.FromMinutes(5) + TimeSpan.FromTicks(1), now: now)
            .ThenRejected(RejectionCodes.OccurredInFuture);
    }

    [Fact]
    public void A_build_in_the_future_is_rejected_before_its_factory_is_consulted() =>
        Scenario.Given()
            .When(Built with { FactoryId = "berlin" }, occurredAt: Scenario.Start.AddDays(1), now: Scenario.Start)
            .ThenRejected(RejectionCodes.OccurredInFuture);

    [Fact]
    public void An_event_recorded_long_after_it_happened_is_accepted() =>
        Scenario.Given(Built).When(Passed, now: Scenario.Start.AddYears(1)).ThenAccepted();

    [Fact]
    public void A_lifecycle_rule_is_reported_before_a_time_rule() =>
        Scenario.Given(Built)
            .When(Shipped, occurredAt: Scenario.Start.AddDays(-1))
            .ThenRejected(RejectionCodes.TestNotPassed);
}
