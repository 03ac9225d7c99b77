using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Ledger.Api.Access;
using Ledger.Api.Tests.Support;
using Ledger.Testing;

namespace Ledger.Api.Tests;

public sealed class AuthenticationTests(DatabaseFixture database) : IClassFixture<DatabaseFixture>, IAsyncDisposable
{
    private readonly LedgerApiFactory api = new(database.ConnectionString, withRoleProbe: true);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_request_without_a_key_is_401_problem_json_with_a_Bearer_challenge()
    {
        using var client = api.CreateClient();

        using var response = await client.GetAsync(new Uri("/api/v1/whoami", UriKind.Relative), Ct);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("Bearer", Assert.Single(response.Headers.WwwAuthenticate).Scheme);
        var problem = await ReadProblemAsync(response);
        Assert.Equal("https://ledger.example/problems/unauthorized", problem.GetProperty("type").GetString());
        Assert.Equal(401, problem.GetProperty("status").GetInt32());
    }

    [Theory]
    [InlineData("Bearer nonsense")]
    [InlineData("Bearer ldg_0000000000000000000000000000000_tooShort")]
    [InlineData("Basic dXNlcjpwYXNz")]
    [InlineData("Bearer LDG_0197A0B1C2D3E4F5A6B7C8D9E0F1A2B3_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")]
    public async Task A_malformed_key_is_401(string authorization)
    {
        using var client = api.CreateClient();
        client.DefaultRequestHeaders.TryAddWithoutValidation("Authorization", authorization);

        using var response = await client.GetAsync(new Uri("/api/v1/whoami", UriKind.Relative), Ct);

        await AssertUnauthorizedAsync(response);
    }

    [Fact]
    public async Task An_unknown_key_is_401()
    {
        using var client = api.CreateClient(ApiKeyText.Generate().ToString());

        using var response = await client.GetAsync(new Uri("/api/v1/whoami", UriKind.Relative), Ct);

        await AssertUnauthorizedAsync(response);
    }

    [Fact]
    public async Task A_known_key_id_with_the_wrong_secret_is_401()
    {
        var key = await api.CreateKeyAsync(LedgerRole.Admin);
        var forged = key[..37] + ApiKeyText.Generate().ToString()[37..];
        using var client = api.CreateClient(forged);

        using var response = await client.GetAsync(new Uri("/api/v1/whoami", UriKind.Relative), Ct);

        await AssertUnauthorizedAsync(response);
    }

    [Fact]
    public async Task A_revoked_key_stops_working_on_the_very_next_request()
    {
        var name = $"revoke-me-{Guid.NewGuid():N}";
        var key = await api.CreateKeyAsync(LedgerRole.Reporting, name: name);
        using var client = api.CreateClient(key);
        using (var before = await client.GetAsync(new Uri("/api/v1/whoami", UriKind.Relative), Ct))
        {
            Assert.Equal(HttpStatusCode.OK, before.StatusCode);
        }

        Assert.NotNull(await api.Keys.RevokeAsync(name, Ct));

        using var after = await client.GetAsync(new Uri("/api/v1/whoami", UriKind.Relative), Ct);
        await AssertUnauthorizedAsync(after);
    }

    [Theory]
    [InlineData(LedgerRole.Line)]
    [InlineData(LedgerRole.Reporting)]
    [InlineData(LedgerRole.Auditor)]
    [InlineData(LedgerRole.Admin)]
    public async Task Every_role_can_call_whoami(LedgerRole role)
    {
        var name = $"{role.ToText()}-whoami-{Guid.NewGuid():N}";
        var key = await api.CreateKeyAsync(role, name: name);
        using var client = api.CreateClient(key);

        var me = await client.GetFromJsonAsync<WhoAmIResponse>(new Uri("/api/v1/whoami", UriKind.Relative), Ct);

        Assert.NotNull(me);
        Assert.Equal(name, me.Name);
        Assert.Equal(role.ToText(), me.Role);
        Assert.True(ApiKeyText.TryParse(key, out var parsed));
        Assert.Equal(parsed.Id, me.KeyId);
        Assert.Equal(role == LedgerRole.Line ? "lathrop" : null, me.FactoryId);
    }

    [Fact]
    public async Task A_line_key_carries_its_factory()
    {
        var key = await api.CreateKeyAsync(LedgerRole.Line, factoryId: "shanghai");
        using var client = api.CreateClient(key);

        var me = await client.GetFromJsonAsync<WhoAmIResponse>(new Uri("/api/v1/whoami", UriKind.Relative), Ct);

        Assert.Equal("line", me?.Role);
        Assert.Equal("shanghai", me?.FactoryId);
    }

    [Theory]
    [InlineData(LedgerRole.Line, "line")]
    [InlineData(LedgerRole.Reporting, "reporting")]
    [InlineData(LedgerRole.Auditor, "reporting,auditor")]
    [InlineData(LedgerRole.Admin, "line,reporting,auditor,admin")]
    public async Task A_key_may_call_endpoints_of_its_role_and_those_it_implies_and_gets_403_problem_json_elsewhere(LedgerRole held, string allowed)
    {
        using var client = api.CreateClient(await api.CreateKeyAsync(held));

        foreach (var required in LedgerRoles.All)
        {
            using var response = await client.GetAsync(new Uri("/probe/" + required.ToText(), UriKind.Relative), Ct);
            if (allowed.Split(',').Contains(required.ToText()))
            {
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                continue;
            }

            Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
            var problem = await ReadProblemAsync(response);
            Assert.Equal("https://ledger.example/problems/forbidden", problem.GetProperty("type").GetString());
        }
    }

    [Fact]
    public async Task Every_response_carries_a_correlation_id_and_a_sensible_one_from_the_caller_is_kept()
    {
        using var client = api.CreateClient();

        using var generated = await client.GetAsync(new Uri("/health/live", UriKind.Relative), Ct);
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri("/api/v1/whoami", UriKind.Relative));
        request.Headers.Add("X-Correlation-Id", "line-7:batch-42");
        using var kept = await client.SendAsync(request, Ct);

        Assert.Equal(HttpStatusCode.OK, generated.StatusCode);
        Assert.False(string.IsNullOrEmpty(Assert.Single(generated.Headers.GetValues("X-Correlation-Id"))));
        Assert.Equal("line-7:batch-42", Assert.Single(kept.Headers.GetValues("X-Correlation-Id")));
        Assert.Equal("line-7:batch-42", (await ReadProblemAsync(kept)).GetProperty("correlationId").GetString());
    }

    [Fact]
    public async Task An_unknown_route_is_a_problem_too()
    {
        using var client = api.CreateClient(await api.CreateKeyAsync(LedgerRole.Admin));

        using var response = await client.GetAsync(new Uri("/api/v1/nothing-here", UriKind.Relative), Ct);

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("https://ledger.example/problems/not-found", (await ReadProblemAsync(response)).GetProperty("type").GetString());
    }

    public async ValueTask DisposeAsync() => await api.DisposeAsync();

    private static async Task AssertUnauthorizedAsync(HttpResponseMessage response)
    {
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains(response.Headers.WwwAuthenticate, h => h.Scheme == "Bearer");
        Assert.Equal("https://ledger.example/problems/unauthorized", (await ReadProblemAsync(response)).GetProperty("type").GetString());
    }

    private static async Task<JsonElement> ReadProblemAsync(HttpResponseMessage response) =>
        await response.Content.ReadFromJsonAsync<JsonElement>(Ct);
}
