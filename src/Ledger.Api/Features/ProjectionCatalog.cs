using Ledger.Api.Features.Factories;
using Ledger.EventStore.Projections;
using Ledger.Production.Factories;
using Ledger.ReadModels;
using Npgsql;

namespace Ledger.Api.Features;

/// <summary>The ledger's asynchronous projections, built the same way by the service and by <c>ledger projections</c>.</summary>
public static class ProjectionCatalog
{
    /// <summary>Every asynchronous projection, over the given factory registry.</summary>
    public static IReadOnlyList<IProjection> Create(IFactoryRegistry factories) => ReadModelCatalog.Create(factories);

    /// <summary>Every asynchronous projection, over the registry as stored in the database (for tools outside the service).</summary>
    public static async Task<IReadOnlyList<IProjection>> CreateAsync(NpgsqlDataSource dataSource, CancellationToken cancellationToken)
    {
        var registry = new FactoryRegistry(dataSource);
        await registry.SeedAsync(FactorySeed.All, cancellationToken);
        await registry.RefreshAsync(cancellationToken);
        return Create(registry);
    }
}
