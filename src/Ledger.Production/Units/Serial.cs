using System.Diagnostics.CodeAnalysis;

namespace Ledger.Production.Units;

/// <summary>
/// A Megapack unit's serial number, the key of its event stream.
/// </summary>
/// <remarks>
/// The rule (docs/domain.md, "Serial numbers"): leading and trailing white space is removed, ASCII letters are upper-cased,
/// and the result must be 3 to 64 characters of <c>A-Z</c>, <c>0-9</c> and <c>-</c> that starts and ends with a letter or
/// a digit. Anything else, including non-ASCII letters, is rejected rather than folded: with ICU loaded
/// <c>"ſ".ToUpperInvariant()</c> is <c>"S"</c>, and two spellings must never reach the same stream by accident.
/// </remarks>
public readonly record struct Serial : IParsable<Serial>
{
    public const int MinLength = 3;
    public const int MaxLength = 64;

    private readonly string? _value;

    private Serial(string value) => _value = value;

    /// <summary>The normalised serial; empty for <c>default(Serial)</c>, which no parse ever returns.</summary>
    public string Value => _value ?? string.Empty;

    public override string ToString() => Value;

    public static Serial Parse(string s) =>
        TryParse(s, out var serial, out var error) ? serial : throw new FormatException(error);

    public static Serial Parse(string s, IFormatProvider? provider) => Parse(s);

    /// <summary>The shape ASP.NET Core's parameter binding looks for.</summary>
    public static bool TryParse([NotNullWhen(true)] string? s, out Serial result) => TryParse(s, out result, out _);

    public static bool TryParse([NotNullWhen(true)] string? s, IFormatProvider? provider, out Serial result) =>
        TryParse(s, out result, out _);

    /// <summary>Parses <paramref name="s"/>, or says in <paramref name="error"/> which part of the rule it breaks.</summary>
    public static bool TryParse(
        [NotNullWhen(true)] string? s, out Serial result, [NotNullWhen(false)] out string? error)
    {
        result = default;
        if (string.IsNullOrWhiteSpace(s))
        {
            error = "A serial number is required.";
            return false;
        }

        var trimmed = s.AsSpan().Trim();
        if (trimmed.Length is < MinLength or > MaxLength)
        {
            error = $"A serial number is {MinLength} to {MaxLength} characters long; '{Quote(s)}' has {trimmed.Length}.";
            return false;
        }

        Span<char> upper = stackalloc char[trimmed.Length];
        for (var i = 0; i < trimmed.Length; i++)
        {
            var c = trimmed[i];
            if (!char.IsAsciiLetterOrDigit(c) && c != '-')
            {
                // The code point too: a tab, a full-width 'Ａ' or a Cyrillic 'А' look like nothing wrong when printed.
                error = "A serial number may contain only the letters A-Z, the digits 0-9 and '-'; " +
                        $"'{Quote(s)}' contains '{c}' (U+{(int)c:X4}).";
                return false;
            }

            upper[i] = char.IsAsciiLetterLower(c) ? (char)(c - ('a' - 'A')) : c;
        }

        if (upper[0] == '-' || upper[^1] == '-')
        {
            error = $"A serial number must start and end with a letter or a digit; '{Quote(s)}' does not.";
            return false;
        }

        result = new Serial(new string(upper));
        error = null;
        return true;
    }

    /// <summary>
    /// The input as quoted back in an error: at most <see cref="MaxLength"/> characters and an ellipsis. The reliability
    /// suite's fuzzer sent a 400 KB "serial" and got all of it back in the problem; an error must not echo unbounded input.
    /// </summary>
    private static string Quote(string s) => s.Length <= MaxLength ? s : string.Concat(s.AsSpan(0, MaxLength), "…");
}
