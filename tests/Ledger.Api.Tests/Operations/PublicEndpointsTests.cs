using System.Net;
using System.Text.RegularExpressions;
using Ledger.Api.Access;
using Ledger.Api.Tests.Support;
using Ledger.Testing;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace Ledger.Api.Tests.Operations;

/// <summary>What the endpoint table declares public answers without a key.</summary>
public sealed partial class PublicEndpointsTests(DatabaseFixture database) : IClassFixture<DatabaseFixture>, IAsyncDisposable
{
    private readonly LedgerApiFactory _api = new(database.ConnectionString);
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Every_public_endpoint_answers_without_a_key()
    {
        var open = _api.Services.GetRequiredService<EndpointDataSource>().DescribeEndpoints().Where(e => e.Access?.IsPublic == true).ToList();
        Assert.NotEmpty(open);
        using var anonymous = _api.CreateClient();

        foreach (var endpoint in open)
        {
            var path = RouteParameter().Replace(endpoint.Route, m => m.Value.Contains("documentName", StringComparison.Ordinal) ? "v1" : "index.html");
            using var response = await anonymous.GetAsync(new Uri(path, UriKind.Relative), Ct);
            Assert.True(response.StatusCode == HttpStatusCode.OK, $"GET {path} without a key: {response.StatusCode}");
        }
    }

    [GeneratedRegex(@"\{[^}]+\}")]
    private static partial Regex RouteParameter();

    public async ValueTask DisposeAsync() => await _api.DisposeAsync();
}
