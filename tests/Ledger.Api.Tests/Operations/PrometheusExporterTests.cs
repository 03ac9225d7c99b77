using System.Diagnostics.Metrics;
using Ledger.Api.ServiceDefaults.Metrics;
using Ledger.EventStore;
using Ledger.EventStore.Projections;
using Microsoft.Extensions.DependencyInjection;

namespace Ledger.Api.Tests.Operations;

/// <summary>
/// The exporter on instruments of known values: each kind of instrument, names with their units, label escaping, and
/// that it reads only the meters of its own host.
/// </summary>
public sealed class PrometheusExporterTests : IDisposable
{
    private readonly ServiceProvider _services = new ServiceCollection().AddMetrics().BuildServiceProvider();
    private IMeterFactory Factory => _services.GetRequiredService<IMeterFactory>();

    [Fact]
    public void Counters_up_down_counters_gauges_and_histograms_are_written_with_their_types_units_and_values()
    {
        using var exporter = new PrometheusExporter(Factory);
        var meter = Factory.Create(EventStoreInstrumentation.MeterName);
        var counter = meter.CreateCounter<long>("test.appends", "{request}", "Appends finished.");
        var upDown = meter.CreateUpDownCounter<int>("test.active", "{request}", "Appends in flight.");
        var histogram = meter.CreateHistogram("test.latency", "s", "Append latency.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.25, 0.5, 1] });
        var depth = 7;
        meter.CreateObservableGauge("test.queue.depth", () => depth, "{request}", "Queued appends.");

        counter.Add(2, new KeyValuePair<string, object?>("outcome", "appended"));
        counter.Add(3, new KeyValuePair<string, object?>("outcome", "appended"));
        counter.Add(1, new KeyValuePair<string, object?>("outcome", "rejected"));
        upDown.Add(5);
        upDown.Add(-2);
        foreach (var seconds in new[] { 0.125, 0.25, 0.5, 0.75, 3.0 }) histogram.Record(seconds); // a bound is inclusive

        var text = exporter.Scrape();
        var families = PrometheusExposition.Parse(text);

        Assert.Equal("counter", families["test_appends_total"].Type);
        Assert.Equal("Appends finished.", families["test_appends_total"].Help);
        Assert.Equal(5, families.Value("test_appends_total", "test_appends_total", ("outcome", "appended")));
        Assert.Equal(1, families.Value("test_appends_total", "test_appends_total", ("outcome", "rejected")));
        Assert.Equal("gauge", families["test_active"].Type);
        Assert.Equal(3, families.Value("test_active", "test_active"));
        Assert.Equal("gauge", families["test_queue_depth"].Type);
        Assert.Equal(7, families.Value("test_queue_depth", "test_queue_depth"));
        Assert.Equal("histogram", families["test_latency_seconds"].Type);
        Assert.Contains("""
            test_latency_seconds_bucket{le="0.25"} 2
            test_latency_seconds_bucket{le="0.5"} 3
            test_latency_seconds_bucket{le="1"} 4
            test_latency_seconds_bucket{le="+Inf"} 5
            test_latency_seconds_sum 4.625
            test_latency_seconds_count 5

            """.ReplaceLineEndings("\n"), text, StringComparison.Ordinal);

        // Observable instruments are read at each scrape.
        depth = 11;
        Assert.Equal(11, PrometheusExposition.Parse(exporter.Scrape()).Value("test_queue_depth", "test_queue_depth"));
    }

    [Fact]
    public void Label_values_are_escaped_and_label_names_made_valid()
    {
        using var exporter = new PrometheusExporter(Factory);
        var counter = Factory.Create(EventStoreInstrumentation.MeterName).CreateCounter<long>("test.escaping");

        counter.Add(1, new KeyValuePair<string, object?>("http.route", "a\"b\\c\nd"), new KeyValuePair<string, object?>("__reserved", 42));

        var text = exporter.Scrape();
        Assert.Contains("test_escaping_total{_reserved=\"42\",http_route=\"a\\\"b\\\\c\\nd\"} 1\n", text, StringComparison.Ordinal);
        var sample = Assert.Single(PrometheusExposition.Parse(text)["test_escaping_total"].Samples);
        Assert.Equal("a\"b\\c\nd", sample.Labels["http_route"]);
    }

    [Theory]
    [InlineData("eventstore.append.duration", "s", false, "eventstore_append_duration_seconds")]
    [InlineData("eventstore.append.requests", "{request}", true, "eventstore_append_requests_total")]
    [InlineData("http.server.request.body.size", "By", false, "http_server_request_body_size_bytes")]
    [InlineData("dotnet.gc.pause.time", "s", true, "dotnet_gc_pause_time_seconds_total")]
    [InlineData("test.rate", "{event}/s", false, "test_rate_per_second")]
    [InlineData("test.requests_total", null, true, "test_requests_total")]
    [InlineData("9lives-cat", "ms", false, "_9lives_cat_milliseconds")]
    public void Instrument_names_become_prometheus_names_with_their_unit(string instrument, string? unit, bool counter, string expected) =>
        Assert.Equal(expected, PrometheusText.MetricName(instrument, unit, counter));

    [Fact]
    public void Meters_of_other_hosts_are_not_exported()
    {
        using var exporter = new PrometheusExporter(Factory);
        using var otherHost = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var foreign = otherHost.GetRequiredService<IMeterFactory>().Create(EventStoreInstrumentation.MeterName).CreateCounter<long>("test.foreign");
        var own = Factory.Create(EventStoreInstrumentation.MeterName).CreateCounter<long>("test.own");

        foreign.Add(1);
        own.Add(1);

        var families = PrometheusExposition.Parse(exporter.Scrape());
        Assert.True(families.ContainsKey("test_own_total"));
        Assert.False(families.ContainsKey("test_foreign_total"));
    }

    [Fact]
    public void Projection_gauges_show_each_projection_its_failure_and_its_rebuild_progress_and_go_silent_when_cleared()
    {
        using var exporter = new PrometheusExporter(Factory);
        using var metrics = new ProjectionMetrics(Factory);
        var now = new DateTimeOffset(2025, 7, 29, 7, 0, 0, TimeSpan.Zero);
        metrics.Record(
        [
            new ProjectionStatus("deployments", new FeedCursor(1019, 48100), ProjectionState.Failed, 113, TimeSpan.FromSeconds(42.5), "node-b", now,
                new ProjectionFailure("boom", Guid.CreateVersion7(), 48101, now, DuringRebuild: false), null, null, now),
            new ProjectionStatus("factory-throughput", new FeedCursor(1022, 48213), ProjectionState.Running, 0, TimeSpan.Zero, "node-a", now, null,
                new RebuildProgress(now, now, new FeedCursor(900, 30000), 600_000, 1_000_000, 41_000.5, TimeSpan.FromSeconds(9.8)), null, now),
        ], now);

        var families = PrometheusExposition.Parse(exporter.Scrape());
        Assert.Equal(48100, families.Value("eventstore_projection_position", "eventstore_projection_position", ("projection", "deployments")));
        Assert.Equal(48213, families.Value("eventstore_projection_position", "eventstore_projection_position", ("projection", "factory-throughput")));
        Assert.Equal(113, families.Value("eventstore_projection_lag_events", "eventstore_projection_lag_events", ("projection", "deployments")));
        Assert.Equal(42.5, families.Value("eventstore_projection_lag_seconds", "eventstore_projection_lag_seconds", ("projection", "deployments")));
        Assert.Equal(1, families.Value("eventstore_projection_failed", "eventstore_projection_failed", ("projection", "deployments")));
        Assert.Equal(0, families.Value("eventstore_projection_failed", "eventstore_projection_failed", ("projection", "factory-throughput")));
        Assert.Equal(600_000, families.Value("eventstore_projection_rebuild_replayed", "eventstore_projection_rebuild_replayed", ("projection", "factory-throughput")));
        Assert.Equal(1_000_000, families.Value("eventstore_projection_rebuild_to_replay", "eventstore_projection_rebuild_to_replay", ("projection", "factory-throughput")));
        Assert.DoesNotContain(families["eventstore_projection_rebuild_replayed"].Samples, s => s.Has(("projection", "deployments")));

        metrics.Clear();
        Assert.False(PrometheusExposition.Parse(exporter.Scrape()).ContainsKey("eventstore_projection_position"));
    }

    public void Dispose() => _services.Dispose();
}
