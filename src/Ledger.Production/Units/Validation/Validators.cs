using FluentValidation;
using Ledger.Production.Geography;

namespace Ledger.Production.Units.Validation;

// One validator per event payload: the shape of the data, checked before the unit's rules see it. Ranges are physical
// plausibility for one Megapack (about 3,900 kWh today), with headroom for models to come.

public sealed class UnitBuiltValidator : EventDataValidator<UnitBuilt>
{
    public const decimal MinNameplateKwh = 1m;
    public const decimal MaxNameplateKwh = 10_000m;

    public UnitBuiltValidator()
    {
        Field(x => x.FactoryId).FactoryId();
        Field(x => x.Line).Identifier();
        Field(x => x.Model).Name();
        Field(x => x.NameplateKwh).InclusiveBetween(MinNameplateKwh, MaxNameplateKwh);
    }
}

public sealed class UnitTestedValidator : EventDataValidator<UnitTested>
{
    public const decimal MaxMeasuredKwh = 10_000m;

    public UnitTestedValidator()
    {
        Field(x => x.Station).Identifier();
        Field(x => x.Result).IsInEnum().WithMessage("'{PropertyName}' must be \"passed\" or \"failed\".");
        Field(x => x.MeasuredKwh).InclusiveBetween(0m, MaxMeasuredKwh);
        Field(x => x.RoundTripEfficiency).InclusiveBetween(0m, 1m);

        // A failure without a code cannot be analysed, and a code on a pass would be read as a failure by someone.
        Field(x => x.FailureCode)
            .Identifier()
            .When(x => x.Result == TestOutcome.Failed);
        Field(x => x.FailureCode)
            .Null()
            .WithMessage("'{PropertyName}' must be absent when the test passed.")
            .When(x => x.Result == TestOutcome.Passed);
    }
}

public sealed class UnitReworkedValidator : EventDataValidator<UnitReworked>
{
    public UnitReworkedValidator()
    {
        Field(x => x.Reason).Reason();
        Field(x => x.Station).Identifier().When(x => x.Station is not null);
    }
}

public sealed class DestinationValidator : EventDataValidator<Destination>
{
    public DestinationValidator()
    {
        Field(x => x.Country)
            .NotEmpty()
            .Must(Countries.IsAssigned)
            .WithMessage("'{PropertyName}' must be an assigned ISO 3166-1 alpha-2 country code such as \"AU\"; " +
                         "'{PropertyValue}' is not.");
        Field(x => x.Site).Name();
    }
}

public sealed class UnitShippedValidator : EventDataValidator<UnitShipped>
{
    public UnitShippedValidator()
    {
        Field(x => x.Destination).NotNull().SetValidator(new DestinationValidator());
        Field(x => x.Carrier).Name();
        Field(x => x.ShipmentId).Identifier();
    }
}

public sealed class ShipmentCancelledValidator : EventDataValidator<ShipmentCancelled>
{
    public ShipmentCancelledValidator()
    {
        Field(x => x.ShipmentId).Identifier();
        Field(x => x.Reason).Reason();
    }
}

public sealed class UnitDeliveredValidator : EventDataValidator<UnitDelivered>
{
    public UnitDeliveredValidator() => Field(x => x.Site).Name();
}

public sealed class UnitCommissionedValidator : EventDataValidator<UnitCommissioned>
{
    public UnitCommissionedValidator() => Field(x => x.Site).Name();
}

public sealed class UnitScrappedValidator : EventDataValidator<UnitScrapped>
{
    public UnitScrappedValidator() => Field(x => x.Reason).Reason();
}
