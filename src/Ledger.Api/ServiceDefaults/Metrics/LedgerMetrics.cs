using System.Diagnostics.Metrics;
using Ledger.Api.Access;
using Ledger.EventStore.Projections;

namespace Ledger.Api.ServiceDefaults.Metrics;

/// <summary>
/// <c>GET /metrics</c>: the host's instruments in the Prometheus text format, written by OpenTelemetry's Prometheus
/// exporter (which meters: <see cref="Telemetry.LedgerTelemetry"/>). Public (no API key), so that monitoring keeps
/// working exactly when the database — which every key check needs — is down; keep it off the public edge, or set
/// <c>Ledger:Metrics:Port</c> so it answers only on a port the load balancer does not forward (docs/operations.md).
/// </summary>
public static class LedgerMetrics
{
    public const string Path = "/metrics";
    public const string PortSetting = "Ledger:Metrics:Port";
    public const string ProjectionIntervalSetting = "Ledger:Metrics:ProjectionInterval";

    internal static IServiceCollection AddLedgerMetrics(this IServiceCollection services)
    {
        services.AddSingleton(sp => new ProjectionMetrics(sp.GetRequiredService<IMeterFactory>()));
        services.AddHostedService<ProjectionMetricsSampler>();
        return services;
    }

    internal static IEndpointConventionBuilder MapLedgerMetrics(this WebApplication app)
    {
        // The store and ProjectionMetrics, whose instruments must be exported from the start, are made when the host starts
        // (the migration step and the sampler depend on them), not here: building the app has no side effects, so that
        // `codegen write` and `db-dump` run without a database (docs/decisions/0007, Q3).
        var port = app.Configuration.GetValue<int?>(PortSetting);
        return app.MapPrometheusScrapingEndpoint(Path, meterProvider: null, configureBranchedPipeline: pipeline =>
            {
                if (port is null) return;
                // The connection's local port, not the Host header: a client cannot talk its way onto the metrics port.
                pipeline.Use((context, next) =>
                {
                    if (context.Connection.LocalPort == port) return next(context);
                    context.Response.StatusCode = StatusCodes.Status404NotFound;
                    return Task.CompletedTask;
                });
            }, optionsName: null)
            // The exporter maps every method; a scrape is a GET, as before, and the endpoint table says so.
            .WithMetadata(new HttpMethodMetadata([HttpMethods.Get]))
            .WithName("Metrics")
            .AllowPublic()
            .ExcludeFromDescription();
    }
}

/// <summary>
/// Reads every projection's status on a period (<c>Ledger:Metrics:ProjectionInterval</c>, 5 s by default) for the
/// projection gauges: a gauge's callback runs inside a scrape and must not wait on the database.
/// </summary>
internal sealed partial class ProjectionMetricsSampler(
    ProjectionAdmin admin, ProjectionMetrics metrics, IConfiguration configuration, TimeProvider time, ILogger<ProjectionMetricsSampler> logger)
    : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var interval = configuration.GetValue(LedgerMetrics.ProjectionIntervalSetting, TimeSpan.FromSeconds(5));
        using var timer = new PeriodicTimer(interval, time);
        var failing = false;
        do
        {
            try
            {
                metrics.Record(await admin.GetStatusAsync(stoppingToken), time.GetUtcNow());
                if (failing) LogRecovered(logger);
                failing = false;
            }
            catch (Exception e) when (!stoppingToken.IsCancellationRequested)
            {
                // No stale figures: the projection gauges go silent until the statuses can be read again.
                metrics.Clear();
                if (!failing) LogFailed(logger, e);
                failing = true;
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }

    [LoggerMessage(LogLevel.Warning, "Could not read the projections' statuses for the metrics; their gauges are withdrawn until it works again")]
    private static partial void LogFailed(ILogger logger, Exception exception);

    [LoggerMessage(LogLevel.Information, "Reading the projections' statuses for the metrics works again")]
    private static partial void LogRecovered(ILogger logger);
}
