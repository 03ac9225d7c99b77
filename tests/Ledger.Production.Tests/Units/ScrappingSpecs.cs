using Ledger.Production.Tests.Support;
using Ledger.Production.Units;
using static Ledger.Production.Tests.Support.Sample;

namespace Ledger.Production.Tests.Units;

public sealed class ScrappingSpecs
{
    [Theory]
    [InlineData(UnitStage.Built)]
    [InlineData(UnitStage.Passed)]
    [InlineData(UnitStage.Failed)]
    [InlineData(UnitStage.Reworked)]
    [InlineData(UnitStage.InTransit)]
    [InlineData(UnitStage.Delivered)]
    [InlineData(UnitStage.Commissioned)]
    public void Scrapping_a_unit_is_accepted_at_any_stage_after_its_build(UnitStage stage) =>
        Scenario.Given(stage).When(Scrapped).ThenAccepted();

    [Theory]
    [InlineData("UnitTested")]
    [InlineData("UnitReworked")]
    [InlineData("UnitShipped")]
    [InlineData("ShipmentCancelled")]
    [InlineData("UnitDelivered")]
    [InlineData("UnitCommissioned")]
    [InlineData("UnitScrapped")]
    public void Any_event_after_the_unit_was_scrapped_is_rejected(string apiName) =>
        Scenario.Given(UnitStage.Scrapped).When(ByApiName[apiName]).ThenRejected(RejectionCodes.UnitScrapped);
}
