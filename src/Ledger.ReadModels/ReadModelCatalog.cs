using Ledger.EventStore.Projections;
using Ledger.Production.Factories;

namespace Ledger.ReadModels;

/// <summary>
/// The ledger's asynchronous read models, in one list beside them: the service, <c>ledger projections</c> and the tests
/// that must cover every registered read model (<c>DeclaredEventTypesTests</c>) take them from here.
/// </summary>
public static class ReadModelCatalog
{
    /// <summary>Every asynchronous read model, over the given factory registry.</summary>
    public static IReadOnlyList<IProjection> Create(IFactoryRegistry factories) =>
    [
        new FactoryThroughputProjection(factories),
        new MilestonesProjection(factories),
        new DeploymentsProjection(),
    ];
}
