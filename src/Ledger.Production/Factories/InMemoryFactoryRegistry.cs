using System.Collections.Frozen;
using System.Diagnostics.CodeAnalysis;

namespace Ledger.Production.Factories;

/// <summary>A fixed set of factories: the seed for tests and for seeding a new ledger's factories table.</summary>
public sealed class InMemoryFactoryRegistry : IFactoryRegistry
{
    private readonly FrozenDictionary<string, Factory> _byId;

    public InMemoryFactoryRegistry(IEnumerable<Factory> factories)
    {
        ArgumentNullException.ThrowIfNull(factories);
        var list = factories.OrderBy(f => f.Id, StringComparer.Ordinal).ToArray();
        var duplicate = list.GroupBy(f => f.Id, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null)
        {
            throw new ArgumentException($"Factory id '{duplicate.Key}' appears more than once.", nameof(factories));
        }

        All = list;
        _byId = list.ToFrozenDictionary(f => f.Id, StringComparer.Ordinal);
    }

    /// <summary>The three Megafactories of docs/domain.md.</summary>
    public static InMemoryFactoryRegistry Seeded { get; } = new(FactorySeed.All);

    public IReadOnlyList<Factory> All { get; }

    public bool TryFind(string id, [NotNullWhen(true)] out Factory? factory)
    {
        ArgumentNullException.ThrowIfNull(id);
        return _byId.TryGetValue(id, out factory);
    }
}
