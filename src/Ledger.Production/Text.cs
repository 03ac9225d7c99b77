using System.Diagnostics.CodeAnalysis;

namespace Ledger.Production;

internal static class Text
{
    /// <summary>
    /// Trims and upper-cases ASCII letters only. <see cref="string.ToUpperInvariant()"/> also maps some non-ASCII letters
    /// onto ASCII ones, and which depends on the globalization mode (with ICU the long s 'ſ' becomes 'S'), which would
    /// silently make a code valid that was not typed as one.
    /// </summary>
    [return: NotNullIfNotNull(nameof(value))]
    public static string? TrimAndUpperAscii(string? value)
    {
        if (value is null)
        {
            return null;
        }

        var chars = value.Trim().ToCharArray();
        for (var i = 0; i < chars.Length; i++)
        {
            if (char.IsAsciiLetterLower(chars[i]))
            {
                chars[i] = (char)(chars[i] - ('a' - 'A'));
            }
        }

        return new string(chars);
    }
}
