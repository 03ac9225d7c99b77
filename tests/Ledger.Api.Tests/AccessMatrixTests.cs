using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Ledger.Api.Access;
using Ledger.Api.Tests.Support;
using Ledger.Api.Tests.WritePath;
using Ledger.Testing;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace Ledger.Api.Tests;

/// <summary>
/// Every endpoint in the endpoint table, called with a key of every role and with none: a role the endpoint does not
/// allow gets 403, a role it allows gets past authorization, no key gets 401. A new endpoint joins the matrix by
/// being mapped; one mapped without a role fails <see cref="EndpointTableTests"/>.
/// </summary>
public sealed class AccessMatrixTests(DatabaseFixture database) : IClassFixture<DatabaseFixture>, IAsyncDisposable
{
    private readonly LedgerApiFactory _api = new(database.ConnectionString);
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Each_role_reaches_exactly_the_endpoints_the_table_allows_it()
    {
        var endpoints = _api.Services.GetRequiredService<EndpointDataSource>().DescribeEndpoints()
            .Where(e => !e.AllowsAnonymous && e.Route.StartsWith("/api/", StringComparison.Ordinal))
            .ToList();
        Assert.NotEmpty(endpoints);
        var clients = new Dictionary<LedgerRole, HttpClient>();
        foreach (var role in LedgerRoles.All) clients[role] = _api.CreateClient(await _api.CreateKeyAsync(role));
        using var anonymous = _api.CreateClient();

        var mismatches = new List<string>();
        foreach (var endpoint in endpoints)
        {
            foreach (var method in endpoint.Methods.Split(','))
            {
                using (var response = await anonymous.SendAsync(Request(method, endpoint.Route), Ct))
                {
                    if (response.StatusCode != HttpStatusCode.Unauthorized) mismatches.Add($"{method} {endpoint.Route} without a key: {response.StatusCode}");
                }

                foreach (var role in LedgerRoles.All)
                {
                    var allowed = endpoint.Access!.Role is not { } required || role.Satisfies(required);
                    using var response = await clients[role].SendAsync(Request(method, endpoint.Route), Ct);
                    var refused = response.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden;
                    if (allowed == refused) mismatches.Add($"{method} {endpoint.Route} as {role.ToText()}: {response.StatusCode}");
                }
            }
        }

        foreach (var client in clients.Values) client.Dispose();
        Assert.True(mismatches.Count == 0, string.Join(Environment.NewLine, mismatches));
    }

    [Fact]
    public async Task A_revoked_key_is_refused_by_every_endpoint_on_every_node_at_once()
    {
        // A second node on the same database: were keys cached per node, it would go on accepting the key.
        await using var other = new LedgerApiFactory(database.ConnectionString);
        var key = await _api.CreateKeyAsync(LedgerRole.Admin);
        Assert.True(ApiKeyText.TryParse(key, out var parsed));
        using var first = _api.CreateClient(key);
        using var second = other.CreateClient(key);
        foreach (var node in new[] { first, second })
        {
            using var known = await node.GetAsync(new Uri("/api/v1/whoami", UriKind.Relative), Ct);
            Assert.Equal(HttpStatusCode.OK, known.StatusCode);
        }

        Assert.NotNull(await _api.Keys.RevokeAsync(parsed.Id.ToString(), Ct));

        var accepted = new List<string>();
        foreach (var endpoint in ApiEndpoints())
        {
            foreach (var method in endpoint.Methods.Split(','))
            {
                foreach (var (node, name) in new[] { (first, "first node"), (second, "second node") })
                {
                    using var response = await node.SendAsync(Request(method, endpoint.Route), Ct);
                    if (response.StatusCode != HttpStatusCode.Unauthorized) accepted.Add($"{method} {endpoint.Route} on the {name}: {response.StatusCode}");
                }
            }
        }

        Assert.True(accepted.Count == 0, "a revoked key still got in:\n" + string.Join(Environment.NewLine, accepted));
    }

    [Fact]
    public async Task A_line_key_acts_only_for_its_own_factory_on_every_line_endpoint()
    {
        using var lathrop = _api.CreateClient(await _api.CreateKeyAsync(LedgerRole.Line, "lathrop"));
        using var shanghai = _api.CreateClient(await _api.CreateKeyAsync(LedgerRole.Line, "shanghai"));
        var theirs = LineEvents.NewSerial("SHA");
        using (var built = await shanghai.SendAsync(LineEvents.Post($"/api/v1/units/{theirs}/events", LineEvents.Built("shanghai")), Ct))
        {
            Assert.Equal(HttpStatusCode.Created, built.StatusCode);
        }

        var lineEndpoints = ApiEndpoints().Where(e => e.Access!.Role == LedgerRole.Line).ToList();
        Assert.NotEmpty(lineEndpoints);
        foreach (var endpoint in lineEndpoints)
        {
            var mine = LineEvents.NewSerial("LTH");
            var attempts = endpoint.Route switch
            {
                "/api/v1/units/{serial}/events" => new[]
                {
                    LineEvents.Post($"/api/v1/units/{theirs}/events", LineEvents.Tested()),
                    LineEvents.Post($"/api/v1/units/{mine}/events", LineEvents.Built("shanghai")),
                },
                "/api/v1/events" => new[]
                {
                    LineEvents.Post("/api/v1/events", new JsonObject
                    {
                        ["events"] = new JsonArray(LineEvents.Built().WithSerial(mine), LineEvents.Tested().WithSerial(theirs)),
                    }),
                    LineEvents.Post("/api/v1/events", new JsonObject
                    {
                        ["events"] = new JsonArray(LineEvents.Built().WithSerial(mine), LineEvents.Built("shanghai").WithSerial(mine + "B")),
                    }),
                },
                _ => throw new InvalidOperationException(
                    $"{endpoint.Methods} {endpoint.Route} is a line endpoint this test does not know: add how a lathrop key would act for shanghai there."),
            };
            foreach (var attempt in attempts)
            {
                using (attempt)
                {
                    using var response = await lathrop.SendAsync(attempt, Ct);
                    await RecordUnitEventsTests.AssertProblemAsync(response, HttpStatusCode.Forbidden, "wrong-factory");
                }
            }

            var stored = await _api.Services.GetRequiredService<EventStore.EventStore>().ReadStreamsAsync([mine, mine + "B", theirs], Ct);
            Assert.Empty(stored[mine]);
            Assert.Empty(stored[mine + "B"]);
            Assert.Single(stored[theirs]);
        }
    }

    private List<EndpointAccessEntry> ApiEndpoints() => [.. _api.Services.GetRequiredService<EndpointDataSource>().DescribeEndpoints()
        .Where(e => !e.AllowsAnonymous && e.Route.StartsWith("/api/", StringComparison.Ordinal))];

    /// <summary>A request that reaches the endpoint: route values filled in, an empty JSON object as the body.</summary>
    private static HttpRequestMessage Request(string method, string route)
    {
        var path = System.Text.RegularExpressions.Regex.Replace(route, @"\{[^}]+\}", "MATRIX-1");
        var request = new HttpRequestMessage(new HttpMethod(method), new Uri(path, UriKind.Relative));
        if (method is "POST" or "PUT" or "PATCH") request.Content = new StringContent("{}", Encoding.UTF8, "application/json");
        return request;
    }

    public async ValueTask DisposeAsync() => await _api.DisposeAsync();
}
