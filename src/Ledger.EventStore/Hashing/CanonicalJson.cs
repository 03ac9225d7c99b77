using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Ledger.EventStore.Hashing;

/// <summary>
/// The JSON Canonicalization Scheme (RFC 8785): object members sorted by their UTF-16 code units, no insignificant white
/// space, minimal string escaping, numbers as ECMAScript prints an IEEE double. Any JSON text that PostgreSQL's jsonb
/// stores for an input has the same canonical form as the input itself, which lets an auditor re-hash stored events with
/// any RFC 8785 library.
/// </summary>
public static class CanonicalJson
{
    /// <summary>Writes the canonical form of <paramref name="element"/>.</summary>
    /// <exception cref="FormatException">An object has the same member name twice (its meaning would be ambiguous).</exception>
    public static void Write(JsonElement element, IBufferWriter<byte> output)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                WriteObject(element, output);
                break;
            case JsonValueKind.Array:
                output.Write("["u8);
                var first = true;
                foreach (var item in element.EnumerateArray())
                {
                    if (!first) output.Write(","u8);
                    first = false;
                    Write(item, output);
                }
                output.Write("]"u8);
                break;
            case JsonValueKind.String:
                WriteString(element.GetString()!, output);
                break;
            case JsonValueKind.Number:
                WriteAscii(FormatNumber(element.GetDouble()), output);
                break;
            case JsonValueKind.True:
                output.Write("true"u8);
                break;
            case JsonValueKind.False:
                output.Write("false"u8);
                break;
            case JsonValueKind.Null:
                output.Write("null"u8);
                break;
            default:
                throw new FormatException($"A JSON value of kind {element.ValueKind} has no canonical form.");
        }
    }

    /// <summary>The canonical form of a JSON text.</summary>
    public static byte[] Canonicalize(string json)
    {
        using var document = JsonDocument.Parse(json);
        var buffer = new ArrayBufferWriter<byte>(json.Length + 16);
        Write(document.RootElement, buffer);
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>Writes a string with RFC 8785's escaping: only quote, backslash and control characters are escaped.</summary>
    public static void WriteString(string value, IBufferWriter<byte> output)
    {
        ArgumentNullException.ThrowIfNull(value);
        WriteString(value.AsSpan(), output);
    }

    /// <inheritdoc cref="WriteString(string, IBufferWriter{byte})"/>
    public static void WriteString(ReadOnlySpan<char> value, IBufferWriter<byte> output)
    {
        ArgumentNullException.ThrowIfNull(output);
        // Most strings (ids, names, timestamps, hex) need no escape: their UTF-8 goes straight out, sized exactly. Building
        // every string again and asking for three bytes per character made this the hash's largest allocation in batch
        // ingest (docs/benchmarks.md, "Issue 15, the write path's CPU"). Either way the same encoder writes the same bytes.
        var text = value.ContainsAny(MustEscape) ? Escape(value) : value;
        var length = Encoding.UTF8.GetByteCount(text) + 2;
        var span = output.GetSpan(length);
        span[0] = (byte)'"';
        Encoding.UTF8.GetBytes(text, span[1..]);
        span[length - 1] = (byte)'"';
        output.Advance(length);
    }

    private static readonly SearchValues<char> MustEscape = SearchValues.Create(
        [.. Enumerable.Range(0, ' ').Select(c => (char)c), '"', '\\']);

    private static string Escape(ReadOnlySpan<char> value)
    {
        var builder = new StringBuilder(value.Length + 8);
        foreach (var c in value)
        {
            switch (c)
            {
                case '"': builder.Append("\\\""); break;
                case '\\': builder.Append("\\\\"); break;
                case '\b': builder.Append("\\b"); break;
                case '\f': builder.Append("\\f"); break;
                case '\n': builder.Append("\\n"); break;
                case '\r': builder.Append("\\r"); break;
                case '\t': builder.Append("\\t"); break;
                case < ' ': builder.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture)); break;
                default: builder.Append(c); break;
            }
        }

        return builder.ToString();
    }

    /// <summary>ECMAScript's Number.prototype.toString for a finite double (RFC 8785 section 3.2.2.3).</summary>
    public static string FormatNumber(double value)
    {
        if (!double.IsFinite(value)) throw new FormatException("NaN and infinities are not JSON numbers.");
        if (value == 0) return "0";

        // .NET's "R" gives the shortest digits that round-trip; only the layout differs from ECMAScript.
        var shortest = value.ToString("R", CultureInfo.InvariantCulture);
        var negative = shortest.StartsWith('-');
        if (negative) shortest = shortest[1..];

        var exponentAt = shortest.IndexOfAny(['E', 'e']);
        var mantissa = exponentAt < 0 ? shortest : shortest[..exponentAt];
        var exponent = exponentAt < 0 ? 0 : int.Parse(shortest.AsSpan(exponentAt + 1), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
        var dot = mantissa.IndexOf('.', StringComparison.Ordinal);
        var integerDigits = dot < 0 ? mantissa : mantissa[..dot];
        var digits = (dot < 0 ? mantissa : integerDigits + mantissa[(dot + 1)..]).TrimStart('0');
        var leadingZeros = (dot < 0 ? mantissa : integerDigits + mantissa[(dot + 1)..]).Length - digits.Length;
        digits = digits.TrimEnd('0');

        // value = 0.d1d2...dk × 10^n in ECMAScript's terms: n is where the decimal point sits relative to the digits.
        var n = integerDigits.Length - leadingZeros + exponent;
        var k = digits.Length;
        var text = new StringBuilder();
        if (negative) text.Append('-');

        if (k <= n && n <= 21)
        {
            text.Append(digits).Append('0', n - k);
        }
        else if (0 < n && n <= 21)
        {
            text.Append(digits, 0, n).Append('.').Append(digits, n, k - n);
        }
        else if (-6 < n && n <= 0)
        {
            text.Append("0.").Append('0', -n).Append(digits);
        }
        else
        {
            var e = n - 1;
            text.Append(digits[0]);
            if (k > 1) text.Append('.').Append(digits, 1, k - 1);
            text.Append('e').Append(e < 0 ? '-' : '+').Append(Math.Abs(e).ToString(CultureInfo.InvariantCulture));
        }

        return text.ToString();
    }

    private static void WriteObject(JsonElement element, IBufferWriter<byte> output)
    {
        // Each name read once: JsonProperty.Name decodes a new string on every call, and the sort calls it per comparison.
        var members = new List<(string Name, JsonElement Value)>();
        foreach (var property in element.EnumerateObject()) members.Add((property.Name, property.Value));
        members.Sort(static (a, b) => string.CompareOrdinal(a.Name, b.Name));

        output.Write("{"u8);
        for (var i = 0; i < members.Count; i++)
        {
            if (i > 0)
            {
                if (members[i].Name == members[i - 1].Name)
                {
                    throw new FormatException($"The member name '{members[i].Name}' appears twice in one object.");
                }

                output.Write(","u8);
            }

            WriteString(members[i].Name, output);
            output.Write(":"u8);
            Write(members[i].Value, output);
        }

        output.Write("}"u8);
    }

    internal static void WriteAscii(string text, IBufferWriter<byte> output)
    {
        var span = output.GetSpan(text.Length);
        for (var i = 0; i < text.Length; i++) span[i] = (byte)text[i];
        output.Advance(text.Length);
    }
}
