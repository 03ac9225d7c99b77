using Ledger.EventStore;
using Ledger.EventStore.Projections;
using Ledger.EventStore.Schema;
using Ledger.Production.Factories;
using Ledger.Testing;
using Npgsql;

namespace Ledger.ReadModels.Tests.Support;

/// <summary>
/// One database holding the generated history, appended through the real store and projected by the three read models
/// in pages of <see cref="BatchSize"/>, with the in-memory <see cref="Reference"/> of the same feed. Built once per test
/// class: appending and projecting thousands of units is the slow part.
/// </summary>
public sealed class ProjectedHistory : IAsyncLifetime
{
    public const int BatchSize = 500;

    private TestDatabase? _database;

    internal NpgsqlDataSource DataSource { get; private set; } = null!;
    internal Reference Reference { get; private set; } = null!;
    internal IReadOnlyList<RecordedEvent> Feed { get; private set; } = [];
    internal int Units { get; private set; }

    internal static IReadOnlyList<IProjection> Projections() => ReadModelCatalog.Create(InMemoryFactoryRegistry.Seeded);

    public async ValueTask InitializeAsync()
    {
        var cancellationToken = TestContext.Current.CancellationToken;
        var server = await PostgresServer.GetAsync(cancellationToken);
        _database = await server.CreateDatabaseAsync("read_models_history", cancellationToken);
        DataSource = EventStoreDataSource.Create(_database.ConnectionString, "read-models-tests");
        await new Migrator(DataSource).MigrateAsync([EventStoreSchema.Migrations, ReadModelsSchema.Migrations], cancellationToken);

        var units = History.Generate();
        Units = units.Count;
        await using (var store = new EventStore.EventStore(DataSource))
        {
            await History.AppendAsync(store, units, seed: 7, cancellationToken);
        }

        Feed = await ProjectionDriver.RunAsync(DataSource, Projections(), BatchSize, cancellationToken);
        Reference = Reference.Of(Feed);
    }

    public async ValueTask DisposeAsync()
    {
        await DataSource.DisposeAsync();
        if (_database is not null) await _database.DisposeAsync();
    }
}
