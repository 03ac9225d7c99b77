using Ledger.Production.Units;

namespace Ledger.Production.Tests.Units;

public sealed class SerialSpecs
{
    [Theory]
    [InlineData("MP2-000123", "MP2-000123")]
    [InlineData("mp2-000123", "MP2-000123")]
    [InlineData("  Mp2-000123\t", "MP2-000123")]
    [InlineData("A1B", "A1B")]
    [InlineData("A--B", "A--B")]
    [InlineData("123", "123")]
    public void A_valid_serial_is_trimmed_and_upper_cased(string input, string expected) =>
        Assert.Equal(expected, Serial.Parse(input).Value);

    [Fact]
    public void A_serial_of_64_characters_is_accepted() =>
        Assert.True(Serial.TryParse(new string('A', 64), out _));

    [Theory]
    [InlineData(null, "required")]
    [InlineData("", "required")]
    [InlineData("   ", "required")]
    [InlineData("AB", "3 to 64")]
    [InlineData(" AB ", "3 to 64")]
    [InlineData("-AB1", "start and end")]
    [InlineData("AB1-", "start and end")]
    [InlineData("AB 12", "only the letters A-Z")]
    [InlineData("AB_12", "only the letters A-Z")]
    [InlineData("AB.12", "only the letters A-Z")]
    [InlineData("AB\n12", "only the letters A-Z")]
    [InlineData("ÄB12", "only the letters A-Z")]
    [InlineData("ıD-12", "only the letters A-Z")] // dotless i
    [InlineData("ſN-12", "only the letters A-Z")] // long s, which ICU upper-cases to S; it must not become "SN-12"
    [InlineData("ＡB12", "only the letters A-Z")] // full-width A
    public void An_invalid_serial_is_refused_with_the_rule_it_breaks(string? input, string explanation)
    {
        Assert.False(Serial.TryParse(input, out var serial, out var error));
        Assert.Equal(default, serial);
        Assert.Contains(explanation, error, StringComparison.Ordinal);
    }

    [Fact]
    public void A_serial_of_65_characters_is_refused() =>
        Assert.False(Serial.TryParse(new string('A', 65), out _));

    [Fact]
    public void Parsing_an_invalid_serial_throws_a_format_exception_that_explains_the_rule()
    {
        var exception = Assert.Throws<FormatException>(() => Serial.Parse("A_B"));

        Assert.Contains("may contain only the letters A-Z, the digits 0-9 and '-'", exception.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_refused_character_is_named_by_its_code_point_as_look_alikes_print_the_same()
    {
        Assert.False(Serial.TryParse("MP2-\u0410BC", out _, out var error)); // Cyrillic A

        Assert.Contains("U+0410", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Serials_that_differ_only_in_case_and_padding_are_equal() =>
        Assert.Equal(Serial.Parse(" mp2-7 "), Serial.Parse("MP2-7"));

    [Fact]
    public void A_serial_prints_as_its_normalised_value() =>
        Assert.Equal("MP2-7", Serial.Parse("mp2-7").ToString());

    [Fact]
    public void Parsing_through_IParsable_uses_the_same_rule()
    {
        static T ParseAs<T>(string s) where T : IParsable<T> => T.Parse(s, null);

        Assert.Equal("MP2-7", ParseAs<Serial>("mp2-7").Value);
        Assert.Throws<FormatException>(() => ParseAs<Serial>("-x-"));
    }
}
