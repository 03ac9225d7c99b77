using Ledger.Api.Access;
using Ledger.Api.Tests.Support;
using Ledger.Testing;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace Ledger.Api.Tests;

/// <summary>
/// The role × endpoint matrix comes from the endpoint table itself, so an endpoint mapped without a role fails here
/// instead of shipping open (or shipping closed to everyone by the fallback policy).
/// </summary>
public sealed class EndpointTableTests(DatabaseFixture database) : IClassFixture<DatabaseFixture>, IAsyncDisposable
{
    private readonly LedgerApiFactory api = new(database.ConnectionString);

    [Fact]
    public void Every_endpoint_declares_its_access_and_only_public_ones_are_open()
    {
        var endpoints = api.Services.GetRequiredService<EndpointDataSource>().DescribeEndpoints();

        Assert.Contains(endpoints, e => e.Route == "/api/v1/whoami");
        var undeclared = endpoints
            .Where(e => e.Access is null || e.Access.IsPublic != e.AllowsAnonymous)
            .Select(e => $"{e.Methods} {e.Route}")
            .ToList();
        Assert.True(undeclared.Count == 0, "Endpoints without exactly one declared access (RequireRole / RequireAnyRole / AllowPublic): " + string.Join(", ", undeclared));
    }

    [Fact]
    public void The_public_endpoints_are_health_metrics_the_api_description_and_the_dashboard_page()
    {
        var open = api.Services.GetRequiredService<EndpointDataSource>().DescribeEndpoints()
            .Where(e => e.AllowsAnonymous)
            .Select(e => $"{(e.Methods.Length == 0 ? "any" : e.Methods)} {e.Route}");

        Assert.Equal(["GET /dashboard", "GET /dashboard/{file}", "any /health/live", "any /health/ready", "GET /metrics", "GET /openapi/{documentName}.json", "GET /swagger/{**asset}"], open);
    }

    [Fact]
    public void The_endpoint_table_states_the_role_of_each_endpoint()
    {
        var matrix = api.Services.GetRequiredService<EndpointDataSource>().DescribeEndpoints()
            .Where(e => e.Route is "/api/v1/whoami" or "/health/live")
            .Select(e => $"{e.Route} {(e.AllowsAnonymous ? "anonymous" : e.Access?.ToString())}");

        Assert.Equal(["/api/v1/whoami any role", "/health/live anonymous"], matrix);
    }

    public async ValueTask DisposeAsync() => await api.DisposeAsync();
}
