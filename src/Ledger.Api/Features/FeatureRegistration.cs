using Ledger.Api.Features.Audit;
using Ledger.Api.Features.Factories;
using Ledger.Api.Features.History;
using Ledger.Api.Features.Integration;
using Ledger.Api.Features.Integration.Milestones;
using Ledger.Api.Features.Units;
using Ledger.Api.Features.Units.RecordEvents;
using Ledger.Api.Idempotency;
using Ledger.Api.Features.Reporting;
using Ledger.EventStore;
using Ledger.EventStore.Audit;
using Ledger.EventStore.Projections;
using Ledger.Production.Factories;
using Ledger.ReadModels;

namespace Ledger.Api.Features;

/// <summary>The ledger's use cases: their services and their endpoints, each slice registering its own.</summary>
public static class FeatureRegistration
{
    public static IServiceCollection AddLedgerFeatures(this IServiceCollection services)
    {
        services.AddSingleton(sp => ProjectionCatalog.Create(sp.GetRequiredService<IFactoryRegistry>()));
        services.AddSingleton(sp =>
        {
            var configuration = sp.GetRequiredService<IConfiguration>();
            var options = new EventStoreOptions
            {
                TimeProvider = sp.GetRequiredService<TimeProvider>(),
                MeterFactory = sp.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>(),
                LoggerFactory = sp.GetRequiredService<ILoggerFactory>(),
                EventTypes = Production.Units.UnitEvents.StoredNamesByType,
                InlineProjections = { new UnitStatusProjection() },
                NodeId = sp.GetRequiredService<ServiceDefaults.LedgerNode>().Id,
            };
            if (ProjectionDaemonService.RunsDaemon(configuration))
            {
                var held = sp.GetService<ProjectionDaemonHosting.ReadModelsHeld>() is not null;
                foreach (var projection in sp.GetRequiredService<IReadOnlyList<IProjection>>())
                {
                    options.AsyncProjections.Add(projection);
                    if (held) options.HeldProjections.Add(projection.Name);
                }
            }

            return options;
        });
        // On the Marten store the host registers (ServiceDefaults/Messaging), configured from the options above.
        services.AddSingleton(sp => new EventStore.EventStore(
            sp.GetRequiredService<Npgsql.NpgsqlDataSource>(), sp.GetRequiredService<EventStoreOptions>(), sp.GetRequiredService<Marten.IDocumentStore>()));
        services.AddSingleton<UnitStatusQuery>();
        services.AddSingleton(sp => new ProjectionAdmin(sp.GetRequiredService<Npgsql.NpgsqlDataSource>(), sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton<Freshness>();
        services.AddSingleton<UnitStatusRebuilds>();
        services.AddSingleton<FactoryRegistry>();
        services.AddSingleton<IFactoryRegistry>(sp => sp.GetRequiredService<FactoryRegistry>());
        services.AddHostedService<FactoryRegistryRefresher>();
        // After the migration step (service defaults) and the registry's first load: hosted services start in order.
        services.AddHostedService<ProjectionDaemonService>();
        services.AddSingleton<IdempotencyKeys>();
        // After Wolverine (ServiceDefaults/Messaging), whose inbox keeps the schedule.
        services.AddHostedService<PurgeScheduler>();
        services.AddSingleton<FluentValidation.IValidator<RecordEvents>, RecordEventsValidator>();
        services.AddSingleton(sp => sp.GetRequiredService<IConfiguration>().GetSection("Ledger:Audit").Get<AuditSealerOptions>() ?? new AuditSealerOptions());
        services.AddSingleton(sp => new LedgerAudit(sp.GetRequiredService<Npgsql.NpgsqlDataSource>()));
        services.AddHostedService<AuditSealerService>();
        services.AddIntegrationEvents();
        services.AddMilestoneAnnouncements();
        return services;
    }

    public static RouteGroupBuilder MapLedgerFeatures(this RouteGroupBuilder api)
    {
        api.MapFactories();
        api.MapUnitStatus();
        api.MapFactoryReports();
        api.MapDeployments();
        api.MapProjections();
        api.MapHistory();
        api.MapAudit();
        api.MapIntegrationEvents();
        return api;
    }
}
