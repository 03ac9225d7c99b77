using Ledger.EventStore.Schema;

namespace Ledger.Api;

/// <summary>The HTTP host's own tables (module <c>ledger-api</c>): API keys.</summary>
public static class LedgerApiSchema
{
    public static MigrationSource Migrations { get; } = new("ledger-api", typeof(LedgerApiSchema).Assembly, "Sql/Migrations");
}
