using Ledger.Production.Tests.Support;
using Ledger.Production.Units;
using static Ledger.Production.Tests.Support.Sample;

namespace Ledger.Production.Tests.Units;

public sealed class ShippingSpecs
{
    [Fact]
    public void Shipping_a_unit_that_passed_its_test_is_accepted() =>
        Scenario.Given(Built, Passed).When(Shipped).ThenAccepted();

    [Fact]
    public void Shipping_an_untested_unit_is_rejected() =>
        Scenario.Given(Built).When(Shipped).ThenRejected(RejectionCodes.TestNotPassed);

    [Fact]
    public void Shipping_a_unit_that_failed_its_test_is_rejected() =>
        Scenario.Given(Built, Failed).When(Shipped).ThenRejected(RejectionCodes.TestNotPassed);

    [Fact]
    public void Shipping_a_reworked_unit_before_its_retest_is_rejected() =>
        Scenario.Given(Built, Failed, Reworked).When(Shipped).ThenRejected(RejectionCodes.TestNotPassed);

    [Fact]
    public void Shipping_a_reworked_unit_that_passed_its_retest_is_accepted() =>
        Scenario.Given(Built, Failed, Reworked, Passed).When(Shipped).ThenAccepted();

    [Fact]
    public void Shipping_a_unit_whose_latest_test_failed_after_an_earlier_pass_is_rejected() =>
        Scenario.Given(Built, Passed, Failed).When(Shipped).ThenRejected(RejectionCodes.TestNotPassed);

    [Fact]
    public void Shipping_a_unit_already_in_transit_is_rejected() =>
        Scenario.Given(UnitStage.InTransit)
            .When(Shipped with { ShipmentId = "SHP-2025-0043" })
            .ThenRejected(RejectionCodes.UnitInTransit);

    [Fact]
    public void Shipping_a_delivered_unit_is_rejected() =>
        Scenario.Given(UnitStage.Delivered).When(Shipped).ThenRejected(RejectionCodes.UnitDelivered);

    [Fact]
    public void Shipping_a_commissioned_unit_is_rejected() =>
        Scenario.Given(UnitStage.Commissioned).When(Shipped).ThenRejected(RejectionCodes.UnitDelivered);

    [Fact]
    public void Shipping_a_scrapped_unit_is_rejected() =>
        Scenario.Given(Built, Passed, Scrapped).When(Shipped).ThenRejected(RejectionCodes.UnitScrapped);

    [Fact]
    public void Shipping_again_after_a_cancelled_shipment_is_accepted() =>
        Scenario.Given(Built, Passed, Shipped, Cancelled)
            .When(Shipped with { Destination = new Destination("NZ", "Ruakākā Energy Park") })
            .ThenAccepted();
}
