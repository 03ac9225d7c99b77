using Ledger.Production.Tests.Support;
using Ledger.Production.Units;
using static Ledger.Production.Tests.Support.Sample;

namespace Ledger.Production.Tests.Units;

public sealed class ReworkSpecs
{
    [Fact]
    public void Reworking_a_failed_unit_is_accepted() =>
        Scenario.Given(Built, Failed).When(Reworked).ThenAccepted();

    [Fact]
    public void Recording_a_second_rework_before_the_retest_is_accepted() =>
        Scenario.Given(Built, Failed, Reworked).When(Reworked with { Station = "RW-02" }).ThenAccepted();

    [Fact]
    public void Reworking_an_untested_unit_is_rejected() =>
        Scenario.Given(Built).When(Reworked).ThenRejected(RejectionCodes.TestNotFailed);

    [Fact]
    public void Reworking_a_unit_whose_latest_test_passed_is_rejected() =>
        Scenario.Given(Built, Failed, Reworked, Passed).When(Reworked).ThenRejected(RejectionCodes.TestNotFailed);

    [Fact]
    public void Reworking_a_unit_in_transit_is_rejected() =>
        Scenario.Given(UnitStage.InTransit).When(Reworked).ThenRejected(RejectionCodes.UnitInTransit);

    [Fact]
    public void Reworking_a_delivered_unit_is_rejected() =>
        Scenario.Given(UnitStage.Delivered).When(Reworked).ThenRejected(RejectionCodes.UnitDelivered);

    [Fact]
    public void Reworking_a_scrapped_unit_is_rejected() =>
        Scenario.Given(Built, Failed, Scrapped).When(Reworked).ThenRejected(RejectionCodes.UnitScrapped);
}
