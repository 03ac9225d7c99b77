using Ledger.Api.Access;
using Ledger.Api.ServiceDefaults.Health;
using Ledger.Api.ServiceDefaults.Logging;
using Ledger.Api.ServiceDefaults.Metrics;
using Ledger.Api.ServiceDefaults.OpenApi;
using Ledger.Api.ServiceDefaults.Telemetry;
using Ledger.EventStore;
using Ledger.EventStore.Schema;
using Npgsql;

namespace Ledger.Api.ServiceDefaults;

/// <summary>
/// The host's cross-cutting set-up in one place: database, problem details, correlation ids, auth, logging, health,
/// metrics, traces and the API description (docs/operations.md).
/// </summary>
public static class ServiceDefaultsExtensions
{
    public const string ConnectionStringName = "Ledger";

    /// <summary>The migration modules the API applies at start-up, in order.</summary>
    public static IReadOnlyList<MigrationSource> Migrations { get; } =
        [EventStoreSchema.Migrations, LedgerApiSchema.Migrations, ReadModels.ReadModelsSchema.Migrations];

    public static WebApplicationBuilder AddLedgerServiceDefaults(this WebApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var services = builder.Services;
        services.AddSingleton(TimeProvider.System);
        services.AddSingleton(sp => LedgerNode.From(sp.GetRequiredService<IConfiguration>()));

        // One data source for the process, built when first needed so configuration added by tests is seen.
        services.AddSingleton(sp => EventStoreDataSource.Create(
            sp.GetRequiredService<IConfiguration>().GetConnectionString(ConnectionStringName)
                is { Length: > 0 } connectionString ? connectionString
                : throw new InvalidOperationException($"ConnectionStrings:{ConnectionStringName} is not set."),
            applicationName: sp.GetRequiredService<LedgerNode>().ApplicationName,
            // Npgsql's metrics label each pool with its data source's name, by default the connection string (host,
            // port, user): /metrics is public, so the pool is called by what it is instead.
            configure: dataSource => dataSource.Name = "ledger-api"));
        // Registered before the bootstrap key so the tables exist when it runs; hosted services start in order.
        services.AddHostedService<MigrateOnStart>();

        services.AddProblemDetails(options => options.CustomizeProblemDetails = context =>
        {
            var problem = context.ProblemDetails;
            var status = problem.Status ?? context.HttpContext.Response.StatusCode;
            if (problem.Type is null || !problem.Type.StartsWith(ProblemTypes.Base, StringComparison.Ordinal))
            {
                problem.Type = ProblemTypes.ForStatus(status);
            }

            // Never a stack trace or exception message: 5xx problems say only that something failed, and where to look.
            if (status >= 500 && problem.Type != ProblemTypes.Unavailable) problem.Detail = "The ledger could not complete the request; quote the correlation id when reporting it.";
            problem.Extensions.Remove("exception");
            if (CorrelationId.Find(context.HttpContext) is { } correlationId) problem.Extensions["correlationId"] = correlationId;
        });
        services.AddSingleton<IProblemDetailsWriter, ProblemJsonWriter>();
        services.AddExceptionHandler<DatabaseUnavailable>();
        services.AddExceptionHandler<BadRequestBody>();
        services.AddLedgerAccess();
        builder.AddLedgerLogging();
        services.AddLedgerHealth();
        services.AddLedgerMetrics();
        builder.AddLedgerTelemetry();
        services.AddLedgerOpenApi();
        return builder;
    }

    public static WebApplication UseLedgerServiceDefaults(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.UseCorrelationId();
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        app.UseAuthentication();
        // After authentication, which names the key it counts against; before authorization and the endpoints.
        app.UseRateLimiter();
        app.UseAuthorization();
        app.MapLedgerHealth();
        app.MapLedgerMetrics();
        app.MapLedgerOpenApi();
        return app;
    }

    /// <summary>
    /// Migrates as the migration role when one is configured, granting the service role its privileges (see
    /// <see cref="DatabaseRoles"/>), then checks that Marten finds its tables as it is configured (it never changes them
    /// itself): the service does not start on a schema it would fail on later.
    /// </summary>
    private sealed class MigrateOnStart(NpgsqlDataSource dataSource, IConfiguration configuration, EventStore.EventStore store) : IHostedService
    {
        public async Task StartAsync(CancellationToken cancellationToken)
        {
            await DatabaseRoles.MigrateAsync(
                dataSource, configuration.GetConnectionString(DatabaseRoles.MigrationsConnectionStringName), cancellationToken);
            await store.AssertSchemaAsync(cancellationToken);
        }

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
