using FluentValidation;

namespace Ledger.Production.Units.Validation;

/// <summary>
/// Validates any unit event with the validator of its type, so the HTTP layer can validate whatever the catalogue
/// deserialized without a switch of its own. Failure names are the event's JSON field names (<c>destination.country</c>).
/// </summary>
public sealed class UnitEventValidator : AbstractValidator<IUnitEvent>
{
    public UnitEventValidator()
    {
        RuleFor(x => x)
            .SetInheritanceValidator(v => v
                .Add(new UnitBuiltValidator())
                .Add(new UnitTestedValidator())
                .Add(new UnitReworkedValidator())
                .Add(new UnitShippedValidator())
                .Add(new ShipmentCancelledValidator())
                .Add(new UnitDeliveredValidator())
                .Add(new UnitCommissionedValidator())
                .Add(new UnitScrappedValidator()))
            .OverridePropertyName(string.Empty);
    }
}
