using System.Net;
using System.Text;
using Ledger.Api.Access;
using Ledger.Api.Tests.Support;
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
