using System.Text.RegularExpressions;
using FluentValidation;

namespace Ledger.Production.Units.Validation;

/// <summary>The shapes of the strings in unit events (docs/domain.md, "Field formats"), as reusable rules.</summary>
public static partial class Formats
{
    /// <summary>Longest identifier (line, station, shipment id, failure code).</summary>
    public const int IdentifierMaxLength = 64;

    /// <summary>Longest factory id.</summary>
    public const int FactoryIdMaxLength = 32;

    /// <summary>Longest name (model, site, carrier).</summary>
    public const int NameMaxLength = 100;

    /// <summary>Longest reason (rework, cancellation, scrap).</summary>
    public const int ReasonMaxLength = 500;

    // \z, not $: $ also matches before a final "\n", which would let "L1\n" through.
    [GeneratedRegex(@"^[A-Za-z0-9](?:[A-Za-z0-9._/-]*[A-Za-z0-9])?\z")]
    private static partial Regex IdentifierPattern();

    [GeneratedRegex(@"^[a-z0-9]+(?:-[a-z0-9]+)*\z")]
    private static partial Regex FactoryIdPattern();

    /// <summary>
    /// Machine-issued codes: 1 to 64 ASCII letters, digits and <c>- _ . /</c>, starting and ending with a letter or digit.
    /// Case is kept (<c>L1</c> and <c>l1</c> are different lines), since the systems that issue them decide.
    /// </summary>
    public static IRuleBuilderOptions<T, string?> Identifier<T>(this IRuleBuilder<T, string?> rule) => rule
        .NotEmpty()
        .MaximumLength(IdentifierMaxLength)
        .Matches(IdentifierPattern())
        .WithMessage("'{PropertyName}' may contain only the letters A-Z and a-z, the digits 0-9 and '-', '_', '.', '/', " +
                     "and must start and end with a letter or a digit.");

    /// <summary>A factory id: 1 to 32 lower-case letters and digits in hyphen-separated words (<c>lathrop</c>).</summary>
    public static IRuleBuilderOptions<T, string?> FactoryId<T>(this IRuleBuilder<T, string?> rule) => rule
        .NotEmpty()
        .MaximumLength(FactoryIdMaxLength)
        .Matches(FactoryIdPattern())
        .WithMessage("'{PropertyName}' must be lower-case letters and digits in words separated by single hyphens, " +
                     "such as 'lathrop'.");

    /// <summary>A name people type: not blank, at most 100 characters, no control characters, no outer white space.</summary>
    public static IRuleBuilderOptions<T, string?> Name<T>(this IRuleBuilder<T, string?> rule) =>
        rule.Prose(NameMaxLength);

    /// <summary>A reason people type: like a name, up to 500 characters.</summary>
    public static IRuleBuilderOptions<T, string?> Reason<T>(this IRuleBuilder<T, string?> rule) =>
        rule.Prose(ReasonMaxLength);

    // Outer white space is refused rather than trimmed: sites are compared between events (delivery must reach the
    // shipment's site), and " Moss Landing" would then differ from what the sender sees in its own records.
    private static IRuleBuilderOptions<T, string?> Prose<T>(this IRuleBuilder<T, string?> rule, int maxLength) => rule
        .NotEmpty()
        .MaximumLength(maxLength)
        .Must(s => s is null || !s.Any(char.IsControl))
        .WithMessage("'{PropertyName}' must not contain control characters such as line breaks or tabs.")
        .Must(s => string.IsNullOrEmpty(s) || (!char.IsWhiteSpace(s[0]) && !char.IsWhiteSpace(s[^1])))
        .WithMessage("'{PropertyName}' must not start or end with white space.");
}
