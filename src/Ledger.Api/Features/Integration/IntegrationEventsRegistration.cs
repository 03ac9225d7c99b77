using Ledger.Api.Features.Integration.Journal;
using Ledger.Api.Features.Integration.Units;

namespace Ledger.Api.Features.Integration;

/// <summary>
/// Integration events (docs/integration-events.md): the subscription that publishes the unit notifications, the local
/// transport's journal and its endpoint. Where the messages go is the messaging set-up's (ServiceDefaults/Messaging,
/// <c>IntegrationTransport</c>).
/// </summary>
public static class IntegrationEventsRegistration
{
    public static IServiceCollection AddIntegrationEvents(this IServiceCollection services)
    {
        // In Marten's options, so the store's projection daemon (HotCold) runs it beside the read models: on one node at a time.
        services.AddIntegrationSubscription<UnitNotificationsSubscription>(UnitNotificationsSubscription.Name);
        services.AddSingleton<IntegrationJournal>();
        return services;
    }

    public static RouteGroupBuilder MapIntegrationEvents(this RouteGroupBuilder api) => api.MapIntegrationJournal();
}
