using System.Diagnostics;
using Ledger.EventStore;
using Microsoft.Extensions.Diagnostics.Metrics;
using Npgsql;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace Ledger.Api.ServiceDefaults.Telemetry;

/// <summary>
/// OpenTelemetry, configured here and nowhere else: which meters feed <c>/metrics</c>, which activity sources make
/// traces, and where traces go (docs/operations.md, "Metrics" and "Traces"; docs/decisions/0005). Adding a meter or a
/// source is one line in one of the lists below.
/// </summary>
public static class LedgerTelemetry
{
    /// <summary>The service name traces and <c>target_info</c> carry.</summary>
    public const string ServiceName = "ledger-api";

    /// <summary>The standard variable that turns trace export on (OTLP, gRPC by default; see the OpenTelemetry SDK's environment variables).</summary>
    public const string OtlpEndpointSetting = "OTEL_EXPORTER_OTLP_ENDPOINT";

    /// <summary>The ledger's own spans (the write path's decide-and-append step).</summary>
    public static readonly ActivitySource Source = new("Ledger.Api");

    /// <summary>
    /// Meters the host's <see cref="System.Diagnostics.Metrics.IMeterFactory"/> makes: exported only from this host's
    /// factory, so two hosts in one process (the tests) never add up each other's figures.
    /// </summary>
    public static IReadOnlyList<string> HostMeters { get; } =
    [
        EventStoreInstrumentation.MeterName,
        "Microsoft.AspNetCore.Hosting",
        "Microsoft.AspNetCore.Server.Kestrel",
    ];

    /// <summary>Activity sources whose spans are traced, besides ASP.NET Core's, HttpClient's and Npgsql's.</summary>
    public static IReadOnlyList<string> ActivitySources { get; } =
    [
        Source.Name,
        EventStoreInstrumentation.ActivitySourceName,
    ];

    internal static WebApplicationBuilder AddLedgerTelemetry(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        // The IMetricsBuilder rule, not MeterProviderBuilder.AddMeter: AddMeter listens to every meter of that name in
        // the process, whichever host made it; a Local-scope rule takes only this host's.
        services.AddMetrics(metrics =>
        {
            foreach (var meter in HostMeters) metrics.EnableMetrics(meter, listenerName: "OpenTelemetry", scopes: MeterScope.Local);
        });

        var telemetry = services.AddOpenTelemetry()
            .ConfigureResource(resource => resource.AddService(ServiceName))
            .WithMetrics(metrics => metrics
                .AddRuntimeInstrumentation() // System.Runtime: process-wide
                .AddHttpClientInstrumentation() // System.Net.Http, System.Net.NameResolution: process-wide
                .AddNpgsqlInstrumentation() // Npgsql: process-wide, per data source
                .AddPrometheusExporter(prometheus =>
                {
                    // Every scrape reads fresh figures: a cached answer would show a scraper (or a test) the past.
                    prometheus.ScrapeResponseCacheDurationMilliseconds = 0;
                }));

        // Nothing is traced unless it goes somewhere: without an endpoint no tracer provider exists and spans cost nothing.
        if (!string.IsNullOrWhiteSpace(builder.Configuration[OtlpEndpointSetting]))
        {
            telemetry.WithTracing(tracing => ConfigureTracing(tracing).AddOtlpExporter());
        }

        return builder;
    }

    /// <summary>What is traced: ASP.NET Core's requests, HttpClient's calls, Npgsql's commands and the ledger's own sources.</summary>
    public static TracerProviderBuilder ConfigureTracing(TracerProviderBuilder tracing)
    {
        ArgumentNullException.ThrowIfNull(tracing);
        return tracing
            .AddAspNetCoreInstrumentation(options =>
            {
                // Probes and scrapes arrive every few seconds on every node and would bury the requests worth reading.
                options.Filter = context => !context.Request.Path.StartsWithSegments("/health", StringComparison.Ordinal)
                                            && !context.Request.Path.StartsWithSegments(Metrics.LedgerMetrics.Path, StringComparison.Ordinal);
            })
            .AddHttpClientInstrumentation()
            .AddNpgsql()
            .AddSource([.. ActivitySources]);
    }
}
