using Ledger.Production.Tests.Support;
using Ledger.Production.Units;
using static Ledger.Production.Tests.Support.Sample;

namespace Ledger.Production.Tests.Units;

public sealed class CancellationSpecs
{
    [Fact]
    public void Cancelling_the_shipment_a_unit_is_on_is_accepted() =>
        Scenario.Given(UnitStage.InTransit).When(Cancelled).ThenAccepted();

    [Fact]
    public void Cancelling_a_shipment_the_unit_is_not_on_is_rejected() =>
        Scenario.Given(UnitStage.InTransit)
            .When(Cancelled with { ShipmentId = "SHP-2025-0099" })
            .ThenRejected(RejectionCodes.ShipmentMismatch);

    [Fact]
    public void Shipment_ids_are_compared_exactly_when_cancelling() =>
        Scenario.Given(UnitStage.InTransit)
            .When(Cancelled with { ShipmentId = ShipmentId.ToLowerInvariant() })
            .ThenRejected(RejectionCodes.ShipmentMismatch);

    [Fact]
    public void Cancelling_a_shipment_of_a_unit_in_stock_is_rejected() =>
        Scenario.Given(Built, Passed).When(Cancelled).ThenRejected(RejectionCodes.NotInTransit);

    [Fact]
    public void Cancelling_the_same_shipment_twice_is_rejected() =>
        Scenario.Given(Built, Passed, Shipped, Cancelled).When(Cancelled).ThenRejected(RejectionCodes.NotInTransit);

    [Fact]
    public void Cancelling_a_shipment_after_delivery_is_rejected() =>
        Scenario.Given(UnitStage.Delivered).When(Cancelled).ThenRejected(RejectionCodes.NotInTransit);

    [Fact]
    public void Cancelling_a_shipment_of_a_scrapped_unit_is_rejected() =>
        Scenario.Given(Built, Passed, Shipped, Scrapped).When(Cancelled).ThenRejected(RejectionCodes.UnitScrapped);
}
