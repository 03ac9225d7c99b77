using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Ledger.Api.Features.Integration.Milestones;

/// <summary>The slice's registration: FactoryMilestoneReached announced by the <c>integration-milestones</c> subscription.</summary>
public static class MilestoneAnnouncements
{
    /// <summary>
    /// Registers <see cref="MilestoneSubscription"/> in the host's Marten store, where Marten's daemon runs it beside the
    /// read models (HotCold: one node at a time) on every node that runs the daemon.
    /// </summary>
    public static IServiceCollection AddMilestoneAnnouncements(this IServiceCollection services)
    {
        services.TryAddSingleton(new MilestoneSettings());
        services.AddIntegrationSubscription<MilestoneSubscription>(MilestoneSubscription.Name);
        return services;
    }
}
