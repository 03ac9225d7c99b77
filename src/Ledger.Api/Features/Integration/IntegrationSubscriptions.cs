using Ledger.EventStore.Projections;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Wolverine.Marten;
using Wolverine.Marten.Subscriptions;

namespace Ledger.Api.Features.Integration;

/// <summary>
/// The Marten subscriptions the daemon runs beside the read models, by name: what the operators' views
/// (<c>GET /api/v1/projections</c>, <c>/health</c>, readiness) list with <see cref="ProjectionAdmin.GetSubscriptionStatusAsync"/>.
/// </summary>
public sealed class IntegrationSubscriptions(IEnumerable<IntegrationSubscriptions.Entry> entries)
{
    /// <summary>The subscriptions' names, in the order they were registered.</summary>
    public IReadOnlyList<string> Names { get; } = [.. entries.Select(e => e.Name).Distinct(StringComparer.Ordinal)];

    /// <summary>One registered subscription.</summary>
    public sealed record Entry(string Name);
}

/// <summary>Registers a subscription with Marten's daemon and in <see cref="IntegrationSubscriptions"/>, so that none runs unseen.</summary>
public static class IntegrationSubscriptionRegistration
{
    /// <summary>
    /// Wolverine's <c>SubscribeToEventsWithServices</c> (in Marten's options, so the store's
    /// daemon runs it beside the read models, HotCold: on one node at a time), and lists it under <paramref name="name"/>,
    /// which must be the name its <see cref="BatchSubscription"/> passes to Marten.
    /// </summary>
    public static IServiceCollection AddIntegrationSubscription<T>(this IServiceCollection services, string name) where T : BatchSubscription
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        services.SubscribeToEventsWithServices<T>(ServiceLifetime.Singleton);
        services.AddSingleton(new IntegrationSubscriptions.Entry(name));
        services.TryAddSingleton<IntegrationSubscriptions>();
        return services;
    }
}
