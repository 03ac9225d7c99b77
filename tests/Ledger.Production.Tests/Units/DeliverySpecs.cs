using Ledger.Production.Tests.Support;
using Ledger.Production.Units;
using static Ledger.Production.Tests.Support.Sample;

namespace Ledger.Production.Tests.Units;

public sealed class DeliverySpecs
{
    [Fact]
    public void Delivering_a_unit_in_transit_to_its_destination_site_is_accepted() =>
        Scenario.Given(UnitStage.InTransit).When(Delivered).ThenAccepted();

    [Fact]
    public void Delivery_sites_are_compared_without_regard_to_case() =>
        Scenario.Given(UnitStage.InTransit).When(new UnitDelivered(Site.ToUpperInvariant())).ThenAccepted();

    [Fact]
    public void Delivering_to_a_site_other_than_the_destination_is_rejected() =>
        Scenario.Given(UnitStage.InTransit)
            .When(new UnitDelivered("Waratah Super Battery"))
            .ThenRejected(RejectionCodes.DeliverySiteMismatch);

    [Fact]
    public void Delivering_a_diverted_unit_after_its_shipment_was_cancelled_and_reshipped_is_accepted() =>
        Scenario.Given(
                Built, Passed, Shipped, Cancelled,
                Shipped with { Destination = new Destination("AU", "Waratah Super Battery") })
            .When(new UnitDelivered("Waratah Super Battery"))
            .ThenAccepted();

    [Fact]
    public void Delivering_a_unit_that_was_never_shipped_is_rejected() =>
        Scenario.Given(Built, Passed).When(Delivered).ThenRejected(RejectionCodes.NotInTransit);

    [Fact]
    public void Delivering_a_unit_whose_shipment_was_cancelled_is_rejected() =>
        Scenario.Given(Built, Passed, Shipped, Cancelled).When(Delivered).ThenRejected(RejectionCodes.NotInTransit);

    [Fact]
    public void Delivering_a_unit_twice_is_rejected() =>
        Scenario.Given(UnitStage.Delivered).When(Delivered).ThenRejected(RejectionCodes.NotInTransit);

    [Fact]
    public void Delivering_a_scrapped_unit_is_rejected() =>
        Scenario.Given(Built, Passed, Shipped, Scrapped).When(Delivered).ThenRejected(RejectionCodes.UnitScrapped);
}
