using Ledger.Production.Tests.Support;
using Ledger.Production.Units;
using static Ledger.Production.Tests.Support.Sample;

namespace Ledger.Production.Tests.Units;

public sealed class TestingSpecs
{
    [Fact]
    public void Testing_a_newly_built_unit_is_accepted() =>
        Scenario.Given(Built).When(Passed).ThenAccepted();

    [Fact]
    public void A_failing_test_of_a_newly_built_unit_is_accepted() =>
        Scenario.Given(Built).When(Failed).ThenAccepted();

    [Fact]
    public void Retesting_a_unit_that_passed_is_accepted() =>
        Scenario.Given(Built, Passed).When(Failed).ThenAccepted();

    [Fact]
    public void Retesting_a_failed_unit_without_rework_is_rejected() =>
        Scenario.Given(Built, Failed).When(Passed).ThenRejected(RejectionCodes.ReworkRequired);

    [Fact]
    public void Retesting_a_reworked_unit_is_accepted() =>
        Scenario.Given(Built, Failed, Reworked).When(Passed).ThenAccepted();

    [Fact]
    public void Testing_a_unit_back_in_stock_after_a_cancelled_shipment_is_accepted() =>
        Scenario.Given(Built, Passed, Shipped, Cancelled).When(Passed).ThenAccepted();

    [Fact]
    public void Testing_a_unit_in_transit_is_rejected() =>
        Scenario.Given(UnitStage.InTransit).When(Passed).ThenRejected(RejectionCodes.UnitInTransit);

    [Fact]
    public void Testing_a_delivered_unit_is_rejected() =>
        Scenario.Given(UnitStage.Delivered).When(Passed).ThenRejected(RejectionCodes.UnitDelivered);

    [Fact]
    public void Testing_a_commissioned_unit_is_rejected() =>
        Scenario.Given(UnitStage.Commissioned).When(Passed).ThenRejected(RejectionCodes.UnitDelivered);

    [Fact]
    public void Testing_a_scrapped_unit_is_rejected() =>
        Scenario.Given(UnitStage.Scrapped).When(Passed).ThenRejected(RejectionCodes.UnitScrapped);

    [Fact]
    public void Testing_a_unit_that_was_never_built_is_rejected() =>
        Scenario.Given().When(Passed).ThenRejected(RejectionCodes.UnitNotBuilt);
}
