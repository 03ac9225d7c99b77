using FluentValidation;
using Ledger.Production.Geography;

namespace Ledger.Production.Units.Validation;

// One validator per event payload: the shape of the data, checked before the unit's rules see it. Ranges are physical
// plausibility for one Megapack (about 3,900 kWh today), with headroom for models to come.

// Precision is bounded too: energy to the watt-hour, efficiency to a hundredth of a percent. Read models sum these figures
// in PostgreSQL numeric and read the sums back as decimal, which holds 28 digits; "3916.0000000000000000000001" kWh
// passed the range check, and its sums overflowed decimal on every later throughput report (a 500; found by the
// reliability suite's fuzzer).
internal static class Precision
{
    public static IRuleBuilderOptions<T, decimal> AtMostDecimals<T>(this IRuleBuilderOptions<T, decimal> rule, int decimals) => rule
        .Must(value => value.Scale <= decimals)
        .WithMessage($"'{{PropertyName}}' may have at most {decimals} decimal places.");
}

public sealed class UnitBuiltValidator : EventDataValidator<UnitBuilt>
{
    public const decimal MinNameplateKwh = 1m;
    public const decimal MaxNameplateKwh = 10_000m;

    /// <summary>Energy is given to the watt-hour at most.</summary>
    public const int KwhDecimals = 3;

    public UnitBuiltValidator()
    {
        Field(x => x.FactoryId).FactoryId();
        Field(x => x.Line).Identifier();
        Field(x => x.Model).Name();
        Field(x => x.NameplateKwh).InclusiveBetween(MinNameplateKwh, MaxNameplateKwh).AtMostDecimals(KwhDecimals);
    }
}

public sealed class UnitTestedValidator : EventDataValidator<UnitTested>
{
    public const decimal MaxMeasuredKwh = 10_000m;

    /// <summary>Round-trip efficiency is given to a hundredth of a percent at most.</summary>
    public const int EfficiencyDecimals = 4;

    public UnitTestedValidator()
    {
        Field(x => x.Station).Identifier();
        Field(x => x.Result).IsInEnum().WithMessage("'{PropertyName}' must be \"passed\" or \"failed\".");
        Field(x => x.MeasuredKwh).InclusiveBetween(0m, MaxMeasuredKwh).AtMostDecimals(UnitBuiltValidator.KwhDecimals);
        Field(x => x.RoundTripEfficiency).InclusiveBetween(0m, 1m).AtMostDecimals(EfficiencyDecimals);

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
