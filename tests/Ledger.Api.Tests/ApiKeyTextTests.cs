using Ledger.Api.Access;

namespace Ledger.Api.Tests;

public sealed class ApiKeyTextTests
{
    [Fact]
    public void A_generated_key_reads_back_with_its_id_and_secret()
    {
        var key = ApiKeyText.Generate();
        var text = key.ToString();

        Assert.Matches("^ldg_[0-9a-f]{32}_[A-Za-z0-9_-]{43}$", text);
        Assert.True(ApiKeyText.TryParse(text, out var parsed));
        Assert.Equal(key.Id, parsed.Id);
        Assert.True(parsed.Matches(key.SecretHash()));
    }

    [Fact]
    public void Two_generated_keys_differ_in_id_and_secret()
    {
        var a = ApiKeyText.Generate();
        var b = ApiKeyText.Generate();

        Assert.NotEqual(a.Id, b.Id);
        Assert.False(a.Matches(b.SecretHash()));
    }

    [Theory]
    [InlineData("")]
    [InlineData("ldg_")]
    [InlineData("key_0197a0b1c2d3e4f5a6b7c8d9e0f1a2b3_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")]
    [InlineData("ldg_0197A0B1C2D3E4F5A6B7C8D9E0F1A2B3_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")]
    [InlineData("ldg_0197a0b1c2d3e4f5a6b7c8d9e0f1a2b3-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")]
    [InlineData("ldg_0197a0b1c2d3e4f5a6b7c8d9e0f1a2b3_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")]
    [InlineData("ldg_0197a0b1c2d3e4f5a6b7c8d9e0f1a2b3_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB")]
    public void Text_not_of_the_exact_key_format_is_refused(string text)
    {
        Assert.False(ApiKeyText.TryParse(text, out _));
    }

    [Fact]
    public void Admin_implies_every_role_and_auditor_implies_reporting_only()
    {
        var granted = LedgerRoles.All.SelectMany(held => LedgerRoles.All.Where(required => held.Satisfies(required)).Select(required => $"{held.ToText()}>{required.ToText()}"));

        Assert.Equal(
            ["line>line", "reporting>reporting", "auditor>reporting", "auditor>auditor", "admin>line", "admin>reporting", "admin>auditor", "admin>admin"],
            granted);
    }
}
