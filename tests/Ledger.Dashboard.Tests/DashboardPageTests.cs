using System.IO.Compression;
using System.Net;
using System.Net.Http.Headers;
using Ledger.Api.Access;
using Ledger.Dashboard.Tests.Support;
using Ledger.Testing;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace Ledger.Dashboard.Tests;

/// <summary>How /dashboard and its files are served: to anyone, from the assembly, with a strict content policy.</summary>
public sealed class DashboardPageTests(DatabaseFixture database) : IClassFixture<DatabaseFixture>, IAsyncDisposable
{
    private readonly DashboardHost host = new(database.ConnectionString);
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task The_page_is_served_without_a_key_and_loads_only_its_own_scripts()
    {
        using var client = host.CreateSocketClient();

        using var page = await client.GetAsync(new Uri("/dashboard", UriKind.Relative), Ct);

        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Equal("text/html", page.Content.Headers.ContentType?.MediaType);
        var html = await page.Content.ReadAsStringAsync(Ct);
        Assert.Contains("<script type=\"module\" src=\"dashboard/dashboard.js\"></script>", html, StringComparison.Ordinal);
        Assert.Contains("id=\"api-key\"", html, StringComparison.Ordinal);
        var policy = Assert.Single(page.Headers.GetValues("Content-Security-Policy"));
        Assert.Contains("script-src 'self'", policy, StringComparison.Ordinal);
        Assert.Contains("connect-src 'self'", policy, StringComparison.Ordinal);
        Assert.Contains("frame-ancestors 'none'", policy, StringComparison.Ordinal);
        Assert.Equal("nosniff", Assert.Single(page.Headers.GetValues("X-Content-Type-Options")));
        Assert.Equal("no-referrer", Assert.Single(page.Headers.GetValues("Referrer-Policy")));
    }

    [Fact]
    public async Task The_bundle_is_served_gzipped_to_browsers_and_plain_to_others_with_its_licences_beside_it()
    {
        using var client = host.CreateSocketClient();
        using var plain = await client.GetAsync(new Uri("/dashboard/dashboard.js", UriKind.Relative), Ct);
        using var gzipRequest = new HttpRequestMessage(HttpMethod.Get, "/dashboard/dashboard.js");
        gzipRequest.Headers.AcceptEncoding.Add(new StringWithQualityHeaderValue("gzip"));
        using var gzipped = await client.SendAsync(gzipRequest, Ct);
        using var notices = await client.GetAsync(new Uri("/dashboard/third-party-notices.txt", UriKind.Relative), Ct);

        Assert.Equal(HttpStatusCode.OK, plain.StatusCode);
        Assert.Equal("text/javascript", plain.Content.Headers.ContentType?.MediaType);
        var script = await plain.Content.ReadAsByteArrayAsync(Ct);
        Assert.Empty(plain.Content.Headers.ContentEncoding);

        Assert.Equal("gzip", Assert.Single(gzipped.Content.Headers.ContentEncoding));
        var compressed = await gzipped.Content.ReadAsByteArrayAsync(Ct);
        Assert.True(compressed.Length < script.Length / 2, $"{compressed.Length} bytes gzipped of {script.Length}");
        await using var unzip = new GZipStream(new MemoryStream(compressed), CompressionMode.Decompress);
        using var unzipped = new MemoryStream();
        await unzip.CopyToAsync(unzipped, Ct);
        Assert.Equal(script, unzipped.ToArray());
        Assert.NotEqual(plain.Headers.ETag, gzipped.Headers.ETag);

        var licences = await notices.Content.ReadAsStringAsync(Ct);
        Assert.Contains("echarts", licences, StringComparison.Ordinal);
        Assert.Contains("Apache License", licences, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_file_that_has_not_changed_is_answered_304()
    {
        using var client = host.CreateSocketClient();
        using var first = await client.GetAsync(new Uri("/dashboard/dashboard.css", UriKind.Relative), Ct);
        using var again = new HttpRequestMessage(HttpMethod.Get, "/dashboard/dashboard.css");
        again.Headers.IfNoneMatch.Add(first.Headers.ETag!);

        using var second = await client.SendAsync(again, Ct);

        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.Equal("no-cache", first.Headers.CacheControl?.ToString());
        Assert.Equal(HttpStatusCode.NotModified, second.StatusCode);
    }

    [Fact]
    public async Task A_file_the_dashboard_does_not_have_is_a_404_problem()
    {
        using var client = host.CreateSocketClient();

        using var response = await client.GetAsync(new Uri("/dashboard/appsettings.json", UriKind.Relative), Ct);

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains("https://ledger.example/problems/not-found", await response.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_page_with_a_trailing_slash_redirects_to_the_page()
    {
        using var client = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false }) { BaseAddress = host.BaseAddress };

        using var response = await client.GetAsync(new Uri("/dashboard/", UriKind.Relative), Ct);

        Assert.Equal(HttpStatusCode.MovedPermanently, response.StatusCode);
        Assert.Equal("/dashboard", response.Headers.Location?.OriginalString);
    }

    [Fact]
    public void The_endpoint_table_declares_the_dashboard_routes_public()
    {
        var endpoints = host.Services.GetRequiredService<EndpointDataSource>().DescribeEndpoints();

        // Which other endpoints are public is Ledger.Api.Tests' EndpointTableTests' business; these two must be.
        var dashboard = endpoints.Where(e => e.Route.StartsWith("/dashboard", StringComparison.Ordinal)).Select(e => $"{e.Methods} {e.Route} {e.Access}");

        Assert.Equal(["GET /dashboard public", "GET /dashboard/{file} public"], dashboard);
    }

    public async ValueTask DisposeAsync() => await host.DisposeAsync();
}
