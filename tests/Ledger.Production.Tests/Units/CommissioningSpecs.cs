using Ledger.Production.Tests.Support;
using Ledger.Production.Units;
using static Ledger.Production.Tests.Support.Sample;

namespace Ledger.Production.Tests.Units;

public sealed class CommissioningSpecs
{
    [Fact]
    public void Commissioning_a_delivered_unit_at_its_site_is_accepted() =>
        Scenario.Given(UnitStage.Delivered).When(Commissioned).ThenAccepted();

    [Fact]
    public void Commissioning_at_a_site_other_than_the_delivery_site_is_rejected() =>
        Scenario.Given(UnitStage.Delivered)
            .When(new UnitCommissioned("Waratah Super Battery"))
            .ThenRejected(RejectionCodes.CommissioningSiteMismatch);

    [Fact]
    public void Commissioning_a_unit_in_transit_is_rejected() =>
        Scenario.Given(UnitStage.InTransit).When(Commissioned).ThenRejected(RejectionCodes.NotDelivered);

    [Fact]
    public void Commissioning_a_unit_in_stock_is_rejected() =>
        Scenario.Given(Built, Passed).When(Commissioned).ThenRejected(RejectionCodes.NotDelivered);

    [Fact]
    public void Commissioning_a_unit_twice_is_rejected() =>
        Scenario.Given(UnitStage.Commissioned).When(Commissioned).ThenRejected(RejectionCodes.UnitAlreadyCommissioned);

    [Fact]
    public void Commissioning_a_scrapped_unit_is_rejected() =>
        Scenario.Given(Built, Passed, Shipped, Delivered, Scrapped)
            .When(Commissioned)
            .ThenRejected(RejectionCodes.UnitScrapped);
}
