using System.Text;
using Ledger.EventStore.Hashing;

namespace Ledger.EventStore.Tests;

/// <summary>RFC 8785 behaviour that an independent verifier relies on.</summary>
public sealed class CanonicalJsonTests
{
    [Theory]
    // ECMAScript Number.prototype.toString, from RFC 8785 appendix B and the ES specification.
    [InlineData(0.0, "0")]
    [InlineData(1.0, "1")]
    [InlineData(-1.5, "-1.5")]
    [InlineData(3900.5, "3900.5")]
    [InlineData(0.000001, "0.000001")]
    [InlineData(1e-7, "1e-7")]
    [InlineData(1.5e-7, "1.5e-7")]
    [InlineData(1e21, "1e+21")]
    [InlineData(1e20, "100000000000000000000")]
    [InlineData(123456789012345680000.0, "123456789012345680000")]
    [InlineData(9007199254740992.0, "9007199254740992")]
    [InlineData(4.50, "4.5")]
    [InlineData(2e-3, "0.002")]
    [InlineData(5e-324, "5e-324")]
    [InlineData(1.7976931348623157e308, "1.7976931348623157e+308")]
    [InlineData(333333333.33333329, "333333333.3333333")]
    public void Numbers_print_as_ecmascript_prints_them(double value, string expected) =>
        Assert.Equal(expected, CanonicalJson.FormatNumber(value));

    [Fact]
    public void Negative_zero_prints_as_zero() => Assert.Equal("0", CanonicalJson.FormatNumber(-0.0));

    [Fact]
    public void Members_sort_by_utf16_code_units_and_strings_escape_minimally()
    {
        var canonical = CanonicalJson.Canonicalize("""{ "b": 1, "a": [true, null, "x\u000f\n\"\\é"], "A": {}, "€": 2.50 }""");

        Assert.Equal("""{"A":{},"a":[true,null,"x\u000f\n\"\\é"],"b":1,"€":2.5}""", Encoding.UTF8.GetString(canonical));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void Strings_escape_only_quote_backslash_and_control_characters(int example)
    {
        // In code rather than in the attribute: an attribute cannot hold a lone surrogate.
        var value = new[]
        {
            "plain LTH-2024-010000",
            "",
            "quote \" backslash \\ slash / tab \t nul \u0000 unit separator \u001f del \u007f",
            "non-ASCII é € 😀 and a lone surrogate \ud800 at the end \udc00",
        }[example];
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(1);
        CanonicalJson.WriteString(value, buffer);

        // RFC 8785 section 3.2.2.2, spelt out character by character; what is not escaped is UTF-8 (a lone surrogate
        // becomes U+FFFD, as .NET's encoder writes it).
        var expected = new StringBuilder("\"");
        foreach (var c in value)
        {
            expected.Append(c switch
            {
                '"' => "\\\"",
                '\\' => "\\\\",
                '\b' => "\\b",
                '\f' => "\\f",
                '\n' => "\\n",
                '\r' => "\\r",
                '\t' => "\\t",
                < ' ' => $"\\u{(int)c:x4}",
                _ => c.ToString(),
            });
        }

        Assert.Equal(Encoding.UTF8.GetBytes(expected.Append('"').ToString()), buffer.WrittenSpan.ToArray());
    }

    [Fact]
    public void A_repeated_member_name_has_no_canonical_form() =>
        Assert.Throws<FormatException>(() => CanonicalJson.Canonicalize("""{"a":1,"a":1}"""));
}
