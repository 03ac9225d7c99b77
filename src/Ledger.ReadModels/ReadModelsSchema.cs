using Ledger.EventStore.Schema;

namespace Ledger.ReadModels;

/// <summary>The read models' tables (module <c>read-models</c>).</summary>
public static class ReadModelsSchema
{
    public static MigrationSource Migrations { get; } = new("read-models", typeof(ReadModelsSchema).Assembly, "Sql/Migrations");
}
