using Ledger.Production.Factories;
using Ledger.Production.Tests.Support;
using Ledger.Production.Units;
using static Ledger.Production.Tests.Support.Sample;

namespace Ledger.Production.Tests.Units;

public sealed class BuildingSpecs
{
    [Fact]
    public void Building_a_new_unit_at_a_producing_factory_is_accepted() =>
        Scenario.Given().When(Built).ThenAccepted();

    [Fact]
    public void Building_a_unit_that_was_already_built_is_rejected() =>
        Scenario.Given(Built).When(Built).ThenRejected(RejectionCodes.UnitAlreadyBuilt);

    [Theory]
    [InlineData(UnitStage.Passed)]
    [InlineData(UnitStage.InTransit)]
    [InlineData(UnitStage.Commissioned)]
    [InlineData(UnitStage.Scrapped)]
    public void Building_a_unit_again_at_any_later_stage_is_rejected(UnitStage stage) =>
        Scenario.Given(stage).When(Built).ThenRejected(RejectionCodes.UnitAlreadyBuilt);

    [Theory]
    [InlineData("UnitTested")]
    [InlineData("UnitReworked")]
    [InlineData("UnitShipped")]
    [InlineData("ShipmentCancelled")]
    [InlineData("UnitDelivered")]
    [InlineData("UnitCommissioned")]
    [InlineData("UnitScrapped")]
    public void Any_event_before_the_unit_was_built_is_rejected(string apiName) =>
        Scenario.Given().When(ByApiName[apiName]).ThenRejected(RejectionCodes.UnitNotBuilt);

    [Fact]
    public void Building_at_an_unknown_factory_is_rejected() =>
        Scenario.Given().When(Built with { FactoryId = "berlin" }).ThenRejected(RejectionCodes.UnknownFactory);

    [Fact]
    public void Building_at_a_factory_under_construction_is_rejected() =>
        Scenario.Given().When(Built with { FactoryId = "waller" }).ThenRejected(RejectionCodes.FactoryNotProducing);

    [Fact]
    public void Building_at_a_closed_factory_is_rejected() =>
        Scenario.Given()
            .WithFactories(FactorySeed.Lathrop with { Status = FactoryStatus.Closed })
            .When(Built with { FactoryId = "lathrop" })
            .ThenRejected(RejectionCodes.FactoryNotProducing);

    [Fact]
    public void Building_at_Lathrop_is_accepted() =>
        Scenario.Given().When(Built with { FactoryId = "lathrop" }).ThenAccepted();

    // Shanghai started production on 2025-02-11 in Asia/Shanghai (UTC+8): 2025-02-10T16:00Z.
    [Fact]
    public void Building_in_Shanghai_the_moment_before_local_production_start_is_rejected() =>
        Scenario.Given()
            .When(Built, occurredAt: new DateTimeOffset(2025, 2, 11, 0, 0, 0, TimeSpan.FromHours(8)).AddTicks(-1))
            .ThenRejected(RejectionCodes.BuiltBeforeProductionStart);

    [Fact]
    public void Building_in_Shanghai_at_local_midnight_of_its_production_start_is_accepted() =>
        Scenario.Given()
            .When(Built, occurredAt: new DateTimeOffset(2025, 2, 10, 16, 0, 0, TimeSpan.Zero))
            .ThenAccepted();

    [Fact]
    public void Building_at_a_producing_factory_without_a_recorded_start_date_is_accepted() =>
        Scenario.Given()
            .WithFactories(FactorySeed.Lathrop with { ProductionStarted = null })
            .When(Built with { FactoryId = "lathrop" }, occurredAt: new DateTimeOffset(2019, 6, 1, 0, 0, 0, TimeSpan.Zero))
            .ThenAccepted();

    [Fact]
    public void Building_an_already_built_unit_at_an_unknown_factory_is_rejected_as_already_built() =>
        Scenario.Given(Built)
            .When(Built with { FactoryId = "berlin" })
            .ThenRejected(RejectionCodes.UnitAlreadyBuilt);
}
