using Ledger.EventStore.Schema;

namespace Ledger.EventStore;

/// <summary>The store's own migrations (module <c>event-store</c>).</summary>
public static class EventStoreSchema
{
    /// <summary>The store's tables: streams, events, the append-only trigger.</summary>
    public static MigrationSource Migrations { get; } = new("event-store", typeof(EventStoreSchema).Assembly, "Sql/Migrations");
}
