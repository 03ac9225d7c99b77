using Ledger.Production.Geography;

namespace Ledger.Production.Tests.Geography;

public sealed class CountrySpecs
{
    [Fact]
    public void There_are_249_assigned_codes_each_two_upper_case_letters_in_order_without_repeats()
    {
        Assert.Equal(249, Countries.Assigned.Count);
        Assert.All(Countries.Assigned, code => Assert.Matches("^[A-Z]{2}$", code));
        Assert.Equal(Countries.Assigned.Order(StringComparer.Ordinal), Countries.Assigned);
        Assert.Equal(Countries.Assigned.Count, Countries.Assigned.Distinct().Count());
    }

    [Theory]
    [InlineData("GB")]
    [InlineData("AU")]
    [InlineData("CN")]
    [InlineData("TW")]
    [InlineData("SS")] // South Sudan, assigned 2011
    [InlineData("BQ")] // Bonaire, Sint Eustatius and Saba, assigned 2010
    [InlineData("CW")]
    [InlineData("SX")]
    [InlineData("AQ")]
    public void Assigned_codes_are_recognised(string code) => Assert.True(Countries.IsAssigned(code));

    [Theory]
    [InlineData("UK")] // exceptionally reserved
    [InlineData("EU")] // exceptionally reserved
    [InlineData("XK")] // user-assigned
    [InlineData("ZZ")] // user-assigned
    [InlineData("AN")] // Netherlands Antilles, withdrawn 2010
    [InlineData("CS")] // Serbia and Montenegro, withdrawn 2006
    [InlineData("gb")] // callers normalise first
    [InlineData("GBR")]
    [InlineData("")]
    [InlineData(null)]
    public void Codes_that_are_not_assigned_are_not_recognised(string? code) => Assert.False(Countries.IsAssigned(code));
}
