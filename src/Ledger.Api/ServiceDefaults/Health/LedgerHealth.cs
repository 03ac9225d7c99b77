using System.Text.Json;
using Ledger.Api.Access;
using Ledger.EventStore.Projections;
using Ledger.EventStore.Schema;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Npgsql;

namespace Ledger.Api.ServiceDefaults.Health;

/// <summary>
/// <c>/health/live</c>: the process is up and serving (no dependency is checked, so a database outage never gets the
/// process restarted). <c>/health/ready</c>: it can do its work — the database answers (AspNetCore.HealthChecks.NpgSql),
/// every module's migrations are applied, no projection is stopped on a failure (the ledger's own rules) — and whether
/// downstream systems are hearing of it: an integration subscription paused or far behind makes it degraded,
/// which is still ready (200; docs/operations.md, "Readiness"). Both are public and answer JSON listing each check.
/// </summary>
public static class LedgerHealth
{
    public const string LivePath = "/health/live";
    public const string ReadyPath = "/health/ready";
    private const string ReadyTag = "ready";
    private const string DatabaseCheck = "database";

    /// <summary>
    /// Public words for checks that come from packages: their own description is an exception's message (a host name, a
    /// port, a user), which stays in the log.
    /// </summary>
    private static readonly Dictionary<string, (string Healthy, string Unhealthy)> DependencyWords = new(StringComparer.Ordinal)
    {
        [DatabaseCheck] = ("The database answers.", "The database is unreachable."),
    };

    // A check that has not answered by then counts as failed: a load balancer's probe must get an answer in time.
    private static readonly TimeSpan CheckTimeout = TimeSpan.FromSeconds(5);

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    internal static IServiceCollection AddLedgerHealth(this IServiceCollection services)
    {
        services.AddHealthChecks()
            // The dependency: AspNetCore.HealthChecks.NpgSql runs `select 1` on the service's own data source. Its
            // failures are logged by the health check service (with the exception) and worded for the public below.
            .AddNpgSql(sp => sp.GetRequiredService<NpgsqlDataSource>(), name: DatabaseCheck, tags: [ReadyTag], timeout: CheckTimeout)
            // The ledger's own rules.
            .AddCheck<MigrationsCheck>("migrations", tags: [ReadyTag], timeout: CheckTimeout)
            .AddCheck<ProjectionsCheck>("projections", tags: [ReadyTag], timeout: CheckTimeout)
            // Degraded at worst, never unhealthy: see SubscriptionsCheck.
            .AddCheck<SubscriptionsCheck>("subscriptions", failureStatus: HealthStatus.Degraded, tags: [ReadyTag], timeout: CheckTimeout);
        return services;
    }

    internal static void MapLedgerHealth(this WebApplication app)
    {
        app.MapHealthChecks(LivePath, new HealthCheckOptions { Predicate = _ => false, ResponseWriter = WriteAsync })
            .WithName("Live").AllowPublic();
        app.MapHealthChecks(ReadyPath, new HealthCheckOptions { Predicate = c => c.Tags.Contains(ReadyTag), ResponseWriter = WriteAsync })
            .WithName("Ready").AllowPublic();
    }

    /// <summary>
    /// <c>{"status": "unhealthy", "totalDurationMs": 3.1, "checks": [{"name": "database", "status": "unhealthy",
    /// "description": "...", "durationMs": 1.2, "data": {...}}]}</c>. Descriptions are the checks' own words, never an
    /// exception's message (these endpoints are public; the details go to the log).
    /// </summary>
    private static Task WriteAsync(HttpContext context, HealthReport report)
    {
        var body = new HealthResponse(
            Text(report.Status), Math.Round(report.TotalDuration.TotalMilliseconds, 1),
            [.. report.Entries.Select(e => new HealthCheckResponse(
                e.Key, Text(e.Value.Status), Describe(e.Key, e.Value),
                Math.Round(e.Value.Duration.TotalMilliseconds, 1),
                e.Value.Data.Count == 0 ? null : e.Value.Data))]);
        context.Response.ContentType = "application/json; charset=utf-8";
        return context.Response.WriteAsync(JsonSerializer.Serialize(body, Json), context.RequestAborted);
    }

    private static string? Describe(string name, HealthReportEntry entry)
    {
        if (DependencyWords.TryGetValue(name, out var words)) return entry.Status == HealthStatus.Healthy ? words.Healthy : words.Unhealthy;
        if (entry.Exception is { } exception) return $"The check failed ({exception.GetType().Name}).";
        return entry.Description;
    }

    private static string Text(HealthStatus status) => status switch
    {
        HealthStatus.Healthy => "healthy",
        HealthStatus.Degraded => "degraded",
        _ => "unhealthy",
    };

    private sealed record HealthResponse(string Status, double TotalDurationMs, IReadOnlyList<HealthCheckResponse> Checks);

    private sealed record HealthCheckResponse(string Name, string Status, string? Description, double DurationMs, IReadOnlyDictionary<string, object>? Data);
}

/// <summary>Every migration of every module (store, API, read models) is applied: the code and the schema agree.</summary>
internal sealed partial class MigrationsCheck(NpgsqlDataSource dataSource, ILogger<MigrationsCheck> logger) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var modules = ServiceDefaultsExtensions.Migrations.Select(m => m.Module).ToArray();
        var data = new Dictionary<string, object> { ["modules"] = modules };
        try
        {
            return await new Migrator(dataSource).IsUpToDateAsync(ServiceDefaultsExtensions.Migrations, cancellationToken)
                ? HealthCheckResult.Healthy("Every module's migrations are applied.", data)
                : HealthCheckResult.Unhealthy("Migrations are pending; they apply at start-up or with `ledger migrate`.", data: data);
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException or System.Net.Sockets.SocketException)
        {
            Log(logger, e);
            return HealthCheckResult.Unhealthy("The migrations could not be read: the database is unreachable.", data: data);
        }
    }

    [LoggerMessage(LogLevel.Warning, "Readiness: could not read the applied migrations")]
    private static partial void Log(ILogger logger, Exception exception);
}

/// <summary>
/// No projection is stopped on an event it failed on. Lag is reported but does not fail the check: a busy daemon is
/// working, a failed one is not, and only an operator's retry or skip gets it going (docs/projections.md).
/// </summary>
internal sealed partial class ProjectionsCheck(ProjectionAdmin admin, ILogger<ProjectionsCheck> logger) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        IReadOnlyList<ProjectionStatus> statuses;
        try
        {
            statuses = await admin.GetStatusAsync(cancellationToken);
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException or System.Net.Sockets.SocketException)
        {
            Log(logger, e);
            return HealthCheckResult.Unhealthy("The projections' statuses could not be read: the database is unreachable.");
        }

        var data = statuses.ToDictionary(
            s => s.Name,
            s => (object)new Dictionary<string, object?>
            {
                ["state"] = s.State == ProjectionState.Failed ? "failed" : "running",
                ["position"] = s.Cursor.Position,
                ["lagEvents"] = s.LagEvents,
                ["failedPosition"] = s.Failure?.Position,
            });
        var failed = statuses.Where(s => s.State == ProjectionState.Failed).Select(s => s.Name).ToList();
        return failed.Count == 0
            ? HealthCheckResult.Healthy($"{statuses.Count} projections running.", data)
            : HealthCheckResult.Unhealthy(
                $"Failed: {string.Join(", ", failed)}. Retry or skip after a fix (POST /api/v1/projections/{{name}}/retry or /skip).", data: data);
    }

    [LoggerMessage(LogLevel.Warning, "Readiness: could not read the projections' statuses")]
    private static partial void Log(ILogger logger, Exception exception);
}

/// <summary>
/// The integration subscriptions are not failing and not far behind. A subscription the daemon paused on a failed batch,
/// or one (running or stopped) whose oldest unpublished event is older than <c>Ledger:Integration:LagDegradedSeconds</c>
/// (default 60), makes the check <b>degraded</b>, never unhealthy:
/// readiness takes a node out of the load balancer, and that helps none of the causes (a failing batch fails on whichever
/// node runs it; a broker that went away is not this node's; a frozen owner is another node, whose subscriptions move on
/// after the ownership timeout) while it would stop the lines recording, the one thing the outbox lets go on while
/// downstream systems are not hearing. Degraded answers 200 and says so, for monitoring to alert on (docs/operations.md).
/// </summary>
internal sealed partial class SubscriptionsCheck(
    ProjectionAdmin admin, Features.Integration.IntegrationSubscriptions subscriptions, IConfiguration configuration, ILogger<SubscriptionsCheck> logger)
    : IHealthCheck
{
    /// <summary>The lag, in seconds, beyond which a running subscription counts as far behind.</summary>
    public const string LagDegradedSecondsKey = "Ledger:Integration:LagDegradedSeconds";

    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(context);
        var farBehind = TimeSpan.FromSeconds(configuration.GetValue(LagDegradedSecondsKey, 60.0));
        IReadOnlyList<SubscriptionStatus> statuses;
        try
        {
            statuses = await admin.GetSubscriptionStatusAsync(subscriptions.Names, cancellationToken);
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException or System.Net.Sockets.SocketException)
        {
            Log(logger, e);
            return new HealthCheckResult(context.Registration.FailureStatus, "The subscriptions' statuses could not be read: the database is unreachable.");
        }

        var data = statuses.ToDictionary(
            s => s.Name,
            s => (object)new Dictionary<string, object?>
            {
                ["state"] = Features.ProjectionView.StateText(s.State),
                ["position"] = s.Cursor.Position,
                ["lagEvents"] = s.LagEvents,
                ["lagSeconds"] = Math.Round(s.Lag.TotalSeconds, 3),
                ["failedPosition"] = s.Failure?.Position,
            });
        // Paused: the daemon caught a failure of its batch just now. Stopped or slow: only once events wait too long for it,
        // so a handover (up to about 7.5 s without an owner) or a node's start does not flap the verdict while nothing waits.
        var problems = statuses.Where(s => s.State == SubscriptionState.Paused || s.Lag > farBehind)
            .Select(s => $"{s.Name} {Features.ProjectionView.StateText(s.State)}, {s.Lag.TotalSeconds:N1} s behind").ToList();
        return problems.Count == 0
            ? HealthCheckResult.Healthy($"{statuses.Count} subscriptions, none paused or more than {farBehind.TotalSeconds:N1} s behind.", data)
            : new HealthCheckResult(context.Registration.FailureStatus,
                $"Downstream systems are not hearing of everything recorded: {string.Join(", ", problems)}. GET /api/v1/projections?include=subscriptions shows why.",
                data: data);
    }

    [LoggerMessage(LogLevel.Warning, "Readiness: could not read the subscriptions' statuses")]
    private static partial void Log(ILogger logger, Exception exception);
}
