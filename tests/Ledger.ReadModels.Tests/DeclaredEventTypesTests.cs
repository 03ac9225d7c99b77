using Ledger.EventStore;
using Ledger.EventStore.Projections;
using Ledger.EventStore.Schema;
using Ledger.Production.Factories;
using Ledger.Production.Units;
using Ledger.ReadModels.Tests.Support;
using Ledger.Testing;
using Npgsql;

namespace Ledger.ReadModels.Tests;

/// <summary>
/// Every registered read model is handed only the event types it declares (<see cref="IProjection.EventTypes"/>): Marten's
/// daemon loads no others for its shard, nor does a rebuild (issue 15, P4). So no read model may change its tables on an
/// event of a type it does not declare: folded over a history of every unit event type, once handed everything and once
/// only its declared types, each read model's tables must be equal row for row. A fold that reacts to an undeclared type
/// (a <c>case</c> added without adding the type to the list) shows here as a difference.
/// </summary>
public sealed class DeclaredEventTypesTests(DeclaredEventTypesTests.Feed feed) : IClassFixture<DeclaredEventTypesTests.Feed>
{
    private const int PageSize = 500;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public static TheoryData<string> RegisteredReadModels() => [.. ReadModelCatalog.Create(InMemoryFactoryRegistry.Seeded).Select(p => p.Name)];

    [Fact]
    public void The_history_holds_every_unit_event_type_so_that_a_fold_of_any_of_them_would_show()
    {
        var types = feed.Events.Select(e => e.Type).ToHashSet(StringComparer.Ordinal);
        Assert.All(UnitEvents.All, t => Assert.Contains(t.StoredName, types));
    }

    [Fact]
    public void Every_registered_read_model_declares_its_types_and_each_is_a_unit_event_type()
    {
        Assert.All(ReadModelCatalog.Create(InMemoryFactoryRegistry.Seeded), p =>
        {
            Assert.NotNull(p.EventTypes);
            Assert.NotEmpty(p.EventTypes);
            Assert.All(p.EventTypes, t => Assert.True(UnitEvents.TryFindByStoredName(t, out _), $"{p.Name} declares '{t}', not a unit event type"));
        });
    }

    [Theory]
    [MemberData(nameof(RegisteredReadModels))]
    public async Task A_read_model_handed_only_its_declared_types_holds_what_it_holds_when_handed_every_type(string name)
    {
        var projection = ReadModelCatalog.Create(InMemoryFactoryRegistry.Seeded).Single(p => p.Name == name);
        var declared = projection.EventTypes!.ToHashSet(StringComparer.Ordinal);
        var handed = feed.Events.Where(e => declared.Contains(e.Type)).ToList();
        Assert.True(handed.Count < feed.Events.Count, $"{name} declares every type the history holds: nothing would be left out");

        // The same tables twice: the live ones folded from everything, copies of them from the declared types only.
        var copies = projection.Tables.ToDictionary(t => t, t => t + "_declared", StringComparer.Ordinal);
        await using (var create = feed.DataSource.CreateCommand(string.Concat(copies.Select(c => $"create table {c.Value} (like {c.Key} including all);"))))
        {
            await create.ExecuteNonQueryAsync(Ct);
        }

        await ApplyInPagesAsync(projection, feed.Events, table => table);
        await ApplyInPagesAsync(projection, handed, table => copies[table]);

        foreach (var (live, copy) in copies)
        {
            var everything = await CountAsync($"select count(*) from {live}");
            Assert.True(everything > 0, $"{live} is empty: the comparison would mean nothing");
            var onlyEverything = await RowsAsync($"select t::text from (select * from {live} except all select * from {copy}) t order by 1");
            var onlyDeclared = await RowsAsync($"select t::text from (select * from {copy} except all select * from {live}) t order by 1");
            Assert.True(onlyEverything.Count == 0 && onlyDeclared.Count == 0,
                $"{name} folds state from a type it does not declare ({string.Join(", ", declared.Order())}): {live} differs.\n" +
                $"Handed every type only: {string.Join("\n  ", onlyEverything.Take(5))}\nHanded its declared types only: {string.Join("\n  ", onlyDeclared.Take(5))}");
        }
    }

    private async Task ApplyInPagesAsync(IProjection projection, IReadOnlyList<RecordedEvent> events, Func<string, string> table)
    {
        await using var connection = await feed.DataSource.OpenConnectionAsync(Ct);
        foreach (var page in events.Chunk(PageSize))
        {
            await using var transaction = await connection.BeginTransactionAsync(Ct);
            await projection.ApplyAsync(new ProjectionBatch(connection, transaction, page, table), Ct);
            await transaction.CommitAsync(Ct);
        }
    }

    private async Task<long> CountAsync(string sql)
    {
        await using var command = feed.DataSource.CreateCommand(sql);
        return (long)(await command.ExecuteScalarAsync(Ct))!;
    }

    private async Task<List<string>> RowsAsync(string sql)
    {
        await using var command = feed.DataSource.CreateCommand(sql);
        await using var reader = await command.ExecuteReaderAsync(Ct);
        var rows = new List<string>();
        while (await reader.ReadAsync(Ct)) rows.Add(reader.GetString(0));
        return rows;
    }

    /// <summary>A database holding a generated history of every unit event type, and that history's feed.</summary>
    public sealed class Feed : IAsyncLifetime
    {
        private TestDatabase? _database;

        internal NpgsqlDataSource DataSource { get; private set; } = null!;

        internal IReadOnlyList<RecordedEvent> Events { get; private set; } = [];

        public async ValueTask InitializeAsync()
        {
            var cancellationToken = TestContext.Current.CancellationToken;
            var server = await PostgresServer.GetAsync(cancellationToken);
            _database = await server.CreateDatabaseAsync("read_models_declared_types", cancellationToken);
            DataSource = EventStoreDataSource.Create(_database.ConnectionString, "read-models-tests");
            await new Migrator(DataSource).MigrateAsync([EventStoreSchema.Migrations, ReadModelsSchema.Migrations], cancellationToken);
            await using var store = new EventStore.EventStore(DataSource);
            // Large enough to hold every type (scrapped in transit, cancelled shipments, commissioning), small enough to fold
            // twice per read model in a few seconds.
            await History.AppendAsync(store, History.Generate(seed: 15, lathropUnits: 400, shanghaiUnits: 300), seed: 4, cancellationToken);
            var events = new List<RecordedEvent>();
            var cursor = FeedCursor.Start;
            while (true)
            {
                var page = await store.ReadFeedAsync(cursor, 5_000, cancellationToken: cancellationToken);
                if (page.Events.Count == 0) break;
                events.AddRange(page.Events);
                cursor = page.Next;
            }

            Events = events;
        }

        public async ValueTask DisposeAsync()
        {
            await DataSource.DisposeAsync();
            if (_database is not null) await _database.DisposeAsync();
        }
    }
}
