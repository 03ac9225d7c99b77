using System.Diagnostics.CodeAnalysis;

namespace Ledger.Production.Factories;

/// <summary>
/// Read access to the factories, for the unit's rules. Synchronous on purpose: deciding is a pure function, so a host
/// backs this with a snapshot of the factories table it loaded (and refreshes), not with a query per decision.
/// </summary>
public interface IFactoryRegistry
{
    /// <summary>Every factory, ordered by id.</summary>
    IReadOnlyList<Factory> All { get; }

    /// <summary>Finds a factory by its exact id (ids are lower case; <c>Lathrop</c> is not <c>lathrop</c>).</summary>
    bool TryFind(string id, [NotNullWhen(true)] out Factory? factory);
}
