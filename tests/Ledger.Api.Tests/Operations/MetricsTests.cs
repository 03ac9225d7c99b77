using System.Net;
using System.Text.Json.Nodes;
using Ledger.Api.Access;
using Ledger.Api.ServiceDefaults.Metrics;
using Ledger.Api.Tests.Support;
using Ledger.Api.Tests.WritePath;
using Ledger.EventStore;
using Ledger.EventStore.Projections;
using Ledger.Testing;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Ledger.Api.Tests.Operations;

/// <summary>
/// /metrics over HTTP: a valid exposition, whose append, group-commit, HTTP and projection figures move by exactly what
/// the test did.
/// </summary>
public sealed class MetricsTests(DatabaseFixture database) : IClassFixture<DatabaseFixture>, IAsyncDisposable
{
    private readonly LedgerApiFactory _node = new(database.ConnectionString);
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Appends_move_the_store_and_http_figures_by_exactly_what_was_recorded()
    {
        using var anonymous = _node.CreateClient();
        using var line = _node.CreateClient(await _node.CreateKeyAsync(LedgerRole.Line, "lathrop"));
        var before = await ScrapeAsync(anonymous, Ct);

        // Three requests of 1, 2 and 3 events, and one refused by a rule (nothing written).
        var sizes = new[] { 1, 2, 3 };
        foreach (var size in sizes)
        {
            JsonNode body = size == 1 ? LineEvents.Built() : new JsonArray([.. new[] { LineEvents.Built(), LineEvents.Tested(), LineEvents.Shipped() }.Take(size)]);
            using var response = await line.SendAsync(LineEvents.Post($"/api/v1/units/{LineEvents.NewSerial()}/events", body), Ct);
            Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        }

        using (var refused = await line.SendAsync(LineEvents.Post($"/api/v1/units/{LineEvents.NewSerial()}/events", LineEvents.Tested()), Ct))
        {
            Assert.Equal(HttpStatusCode.NotFound, refused.StatusCode); // a unit with no history: refused before the store
        }

        var after = await ScrapeAsync(anonymous, Ct);
        double Delta(string family, string sample, params (string, string)[] labels) => after.Value(family, sample, labels) - before.Value(family, sample, labels);

        Assert.Equal(3, Delta("eventstore_append_requests_total", "eventstore_append_requests_total", ("outcome", "appended")));
        Assert.Equal(6, Delta("eventstore_append_events_total", "eventstore_append_events_total"));
        Assert.Equal(3, Delta("eventstore_append_duration_seconds", "eventstore_append_duration_seconds_count", ("outcome", "appended")));
        Assert.True(Delta("eventstore_append_duration_seconds", "eventstore_append_duration_seconds_sum", ("outcome", "appended")) > 0);
        Assert.Equal(3, Delta("eventstore_append_request_size", "eventstore_append_request_size_count"));
        Assert.Equal(6, Delta("eventstore_append_request_size", "eventstore_append_request_size_sum"));
        Assert.Equal(1, Delta("eventstore_append_request_size", "eventstore_append_request_size_bucket", ("le", "1")));
        Assert.Equal(2, Delta("eventstore_append_request_size", "eventstore_append_request_size_bucket", ("le", "2")));
        Assert.Equal(3, Delta("eventstore_append_request_size", "eventstore_append_request_size_bucket", ("le", "5")));
        Assert.Equal(3, Delta("eventstore_group_commit_requests", "eventstore_group_commit_requests_sum"));
        Assert.Equal(6, Delta("eventstore_group_commit_events", "eventstore_group_commit_events_sum"));
        Assert.Equal(0, after.Value("eventstore_append_active_requests", "eventstore_append_active_requests"));
        // Npgsql's figures name the pool after the data source, never after its connection string (host, user).
        Assert.Contains(after["db_client_operation_duration_seconds"].Samples, s => s.Has(("db_client_connection_pool_name", "ledger-api")));
        Assert.Equal("gauge", after["eventstore_append_queue_length"].Type);

        var route = ("http_route", "/api/v1/units/{serial}/events");
        Assert.Equal(3, Delta("http_server_request_duration_seconds", "http_server_request_duration_seconds_count",
            route, ("http_request_method", "POST"), ("http_response_status_code", "201")));
        Assert.Equal(1, Delta("http_server_request_duration_seconds", "http_server_request_duration_seconds_count",
            route, ("http_request_method", "POST"), ("http_response_status_code", "404")));
    }

    [Fact]
    public async Task Projection_positions_and_lag_follow_the_feed()
    {
        await using var node = _node.WithWebHostBuilder(b => b.UseSetting(LedgerMetrics.ProjectionIntervalSetting, "00:00:00.1"));
        var keys = node.Services.GetRequiredService<ApiKeyStore>();
        using var anonymous = node.CreateClient();
        using var line = node.CreateClient();
        line.DefaultRequestHeaders.Authorization = new("Bearer", (await keys.CreateAsync($"line-{Guid.NewGuid():N}", LedgerRole.Line, "lathrop", Ct)).Key);

        using var response = await line.SendAsync(LineEvents.Post($"/api/v1/units/{LineEvents.NewSerial()}/events", LineEvents.Built()), Ct);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var position = JsonNode.Parse(await response.Content.ReadAsStringAsync(Ct))!["position"]!.GetValue<long>();

        // Every projection reaches the write, and then has no lag left.
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        deadline.CancelAfter(TimeSpan.FromSeconds(60));
        string[] projections = ["deployments", "factory-throughput", "milestones"];
        while (true)
        {
            var metrics = await ScrapeAsync(anonymous, deadline.Token);
            var caughtUp = projections.All(p =>
                metrics.Value("eventstore_projection_position", "eventstore_projection_position", ("projection", p)) >= position
                && metrics.Value("eventstore_projection_lag_events", "eventstore_projection_lag_events", ("projection", p)) == 0);
            if (caughtUp)
            {
                Assert.All(projections, p => Assert.Equal(0, metrics.Value("eventstore_projection_failed", "eventstore_projection_failed", ("projection", p))));
                Assert.All(projections, p => Assert.Equal(0, metrics.Value("eventstore_projection_lag_seconds", "eventstore_projection_lag_seconds", ("projection", p))));
                break;
            }

            await Task.Delay(100, deadline.Token);
        }
    }

    [Fact]
    public async Task Projection_gauges_show_each_projection_its_failure_and_its_rebuild_progress_and_go_silent_when_cleared()
    {
        // Statuses no live database would hold at once, given to the gauges the sampler feeds; it samples once at start
        // and then not for an hour, so after its first sample the gauges show exactly these.
        await using var node = _node.WithWebHostBuilder(b => b.UseSetting(LedgerMetrics.ProjectionIntervalSetting, "01:00:00"));
        var metrics = node.Services.GetRequiredService<ProjectionMetrics>();
        using var anonymous = node.CreateClient();
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        deadline.CancelAfter(TimeSpan.FromSeconds(60));
        while (metrics.RecordedAt is null) await Task.Delay(50, deadline.Token);
        var now = new DateTimeOffset(2025, 7, 29, 7, 0, 0, TimeSpan.Zero);
        metrics.Record(
        [
            new ProjectionStatus("deployments", new FeedCursor(48100), ProjectionState.Failed, 113, TimeSpan.FromSeconds(42.5), "node-b", now,
                new ProjectionFailure("boom", Guid.CreateVersion7(), 48101, now, DuringRebuild: false), null, null, now),
            new ProjectionStatus("factory-throughput", new FeedCursor(48213), ProjectionState.Running, 0, TimeSpan.Zero, "node-a", now, null,
                new RebuildProgress(now, now, new FeedCursor(30000), 600_000, 1_000_000, 41_000.5, TimeSpan.FromSeconds(9.8)), null, now),
        ], now);

        var families = await ScrapeAsync(anonymous, Ct);
        Assert.Equal("gauge", families["eventstore_projection_position"].Type);
        Assert.Equal(48100, families.Value("eventstore_projection_position", "eventstore_projection_position", ("projection", "deployments")));
        Assert.Equal(48213, families.Value("eventstore_projection_position", "eventstore_projection_position", ("projection", "factory-throughput")));
        Assert.Equal(113, families.Value("eventstore_projection_lag_events", "eventstore_projection_lag_events", ("projection", "deployments")));
        Assert.Equal(42.5, families.Value("eventstore_projection_lag_seconds", "eventstore_projection_lag_seconds", ("projection", "deployments")));
        Assert.Equal(1, families.Value("eventstore_projection_failed", "eventstore_projection_failed", ("projection", "deployments")));
        Assert.Equal(0, families.Value("eventstore_projection_failed", "eventstore_projection_failed", ("projection", "factory-throughput")));
        Assert.Equal(600_000, families.Value("eventstore_projection_rebuild_replayed", "eventstore_projection_rebuild_replayed", ("projection", "factory-throughput")));
        Assert.Equal(1_000_000, families.Value("eventstore_projection_rebuild_to_replay", "eventstore_projection_rebuild_to_replay", ("projection", "factory-throughput")));
        Assert.DoesNotContain(families["eventstore_projection_rebuild_replayed"].Samples, s => s.Has(("projection", "deployments")));
        Assert.DoesNotContain(families["eventstore_projection_position"].Samples, s => s.Has(("projection", "milestones")));

        metrics.Clear();
        Assert.DoesNotContain((await ScrapeAsync(anonymous, Ct)).GetValueOrDefault("eventstore_projection_position")?.Samples ?? [],
            s => s.Has(("projection", "deployments")));
    }

    [Fact]
    public async Task With_a_metrics_port_set_metrics_answer_only_on_that_port()
    {
        await using var node = _node.WithWebHostBuilder(b => b.UseSetting(LedgerMetrics.PortSetting, "9464"));
        using var client = node.CreateClient(new WebApplicationFactoryClientOptions());

        // The in-memory test server's connections have local port 0: not the metrics port.
        using var elsewhere = await client.GetAsync(new Uri("/metrics", UriKind.Relative), Ct);
        Assert.Equal(HttpStatusCode.NotFound, elsewhere.StatusCode);
        using var api = await client.GetAsync(new Uri("/health/live", UriKind.Relative), Ct);
        Assert.Equal(HttpStatusCode.OK, api.StatusCode);

        // And on the configured port they answer: port 0 is the one the in-memory server's connections have.
        await using var onItsPort = _node.WithWebHostBuilder(b => b.UseSetting(LedgerMetrics.PortSetting, "0"));
        using var scraper = onItsPort.CreateClient();
        Assert.Contains("eventstore_append_queue_length", (await ScrapeAsync(scraper, Ct)).Keys);
    }

    [Fact]
    public async Task A_scraper_that_asks_for_openmetrics_gets_openmetrics()
    {
        using var anonymous = _node.CreateClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri("/metrics", UriKind.Relative));
        request.Headers.Accept.ParseAdd("application/openmetrics-text; version=1.0.0");

        using var response = await anonymous.SendAsync(request, Ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/openmetrics-text", response.Content.Headers.ContentType?.MediaType);
        var text = await response.Content.ReadAsStringAsync(Ct);
        Assert.EndsWith("# EOF\n", text, StringComparison.Ordinal);
        Assert.Contains("eventstore_append_queue_length", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_node_exports_its_own_figures_not_those_of_another_host_in_the_same_process()
    {
        // Two hosts in one process, as in these tests: each one's /metrics counts only its own appends and requests.
        await using var other = new LedgerApiFactory(database.ConnectionString);
        using var anonymous = _node.CreateClient();
        using var otherAnonymous = other.CreateClient();
        using var line = other.CreateClient(await other.CreateKeyAsync(LedgerRole.Line, "lathrop"));
        var before = await ScrapeAsync(anonymous, Ct);
        var otherBefore = await ScrapeAsync(otherAnonymous, Ct);

        using (var response = await line.SendAsync(LineEvents.Post($"/api/v1/units/{LineEvents.NewSerial()}/events", LineEvents.Built()), Ct))
        {
            Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        }

        var after = await ScrapeAsync(anonymous, Ct);
        var otherAfter = await ScrapeAsync(otherAnonymous, Ct);
        (string, string) appended = ("outcome", "appended");
        Assert.Equal(1, otherAfter.Value("eventstore_append_requests_total", "eventstore_append_requests_total", appended)
                        - otherBefore.Value("eventstore_append_requests_total", "eventstore_append_requests_total", appended));
        Assert.Equal(before.Value("eventstore_append_requests_total", "eventstore_append_requests_total", appended),
            after.Value("eventstore_append_requests_total", "eventstore_append_requests_total", appended));
        (string, string)[] posts = [("http_route", "/api/v1/units/{serial}/events"), ("http_request_method", "POST")];
        Assert.Equal(before.Value("http_server_request_duration_seconds", "http_server_request_duration_seconds_count", posts),
            after.Value("http_server_request_duration_seconds", "http_server_request_duration_seconds_count", posts));
    }

    private static async Task<Dictionary<string, Family>> ScrapeAsync(HttpClient client, CancellationToken cancellationToken)
    {
        using var response = await client.GetAsync(new Uri("/metrics", UriKind.Relative), cancellationToken);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var contentType = response.Content.Headers.ContentType;
        Assert.Equal("text/plain", contentType?.MediaType);
        Assert.Contains(contentType!.Parameters, p => p.Name == "version" && p.Value == "0.0.4");
        return PrometheusExposition.Parse(await response.Content.ReadAsStringAsync(Ct));
    }

    public async ValueTask DisposeAsync() => await _node.DisposeAsync();
}
