using System.Text.Json;
using Ledger.Testing;
using Marten;
using Npgsql;
using Migrator = Ledger.EventStore.Schema.Migrator;
using SchemaPatchDifference = Weasel.Core.SchemaPatchDifference;

namespace Ledger.EventStore.Tests;

/// <summary>
/// Marten's event store lives beside the ledger's own tables, created only by the committed migrations 0004/0005 (issue 12,
/// docs/decisions/0006, landing step 1): Marten must find them exactly as <see cref="MartenSetup"/> configures it, append
/// and read through them, and never be able to change history.
/// </summary>
public sealed class MartenSchemaTests(DatabaseFixture database) : IClassFixture<DatabaseFixture>
{
    private const string AppendOnly = "P0001";

    // The test's own stored names: the store takes them from its caller and knows no Megapack event.
    private static readonly Dictionary<Type, string> EventTypeNames = new()
    {
        [typeof(UnitAssembled)] = "unit-assembled.v1",
        [typeof(UnitInspected)] = "unit-inspected.v1",
    };

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task After_the_migrations_Marten_finds_nothing_to_change()
    {
        await using var db = await database.CreateDatabaseAsync(Ct);
        await using var dataSource = await MigratedAsync(db);
        await using var store = Store(dataSource);

        var migration = await store.Storage.Database.CreateMigrationAsync(Ct);

        Assert.Equal(SchemaPatchDifference.None, migration.Difference);
        await store.Storage.Database.AssertDatabaseMatchesConfigurationAsync(Ct);
    }

    [Fact]
    public async Task A_configuration_the_migrations_do_not_match_is_reported_as_a_difference()
    {
        // The check above is what catches a stale 0004 after a Marten upgrade or a change to MartenSetup: it must see one.
        await using var db = await database.CreateDatabaseAsync(Ct);
        await using var dataSource = await MigratedAsync(db);
        await using var store = DocumentStore.For(options =>
        {
            MartenSetup.Configure(options, dataSource, EventTypeNames);
            options.Events.MetadataConfig.HeadersEnabled = false;
        });

        var migration = await store.Storage.Database.CreateMigrationAsync(Ct);

        Assert.NotEqual(SchemaPatchDifference.None, migration.Difference);
    }

    [Fact]
    public async Task Migrating_again_applies_nothing_and_changes_nothing()
    {
        await using var db = await database.CreateDatabaseAsync(Ct);
        await using var dataSource = await MigratedAsync(db);
        var catalog = await CatalogAsync(dataSource);

        var again = await new Migrator(dataSource).MigrateAsync([EventStoreSchema.Migrations], Ct);

        Assert.Empty(again);
        Assert.Equal(catalog, await CatalogAsync(dataSource));
    }

    [Fact]
    public async Task A_session_appends_to_a_string_keyed_stream_under_the_stored_type_names_and_reads_it_back()
    {
        await using var db = await database.CreateDatabaseAsync(Ct);
        await using var dataSource = await MigratedAsync(db);
        await using var store = Store(dataSource);
        const string serial = "TST-2026-000001";
        var assembled = new UnitAssembled("MP-L1", 3916.5m);
        var inspected = new UnitInspected(true, 3901.25m);

        await using (var session = store.LightweightSession())
        {
            session.Events.Append(serial, 1, assembled);
            await session.SaveChangesAsync(Ct);
        }

        // The second append updates the stream's row, which the append-only trigger on mt_streams must let through.
        await using (var session = store.LightweightSession())
        {
            session.Events.Append(serial, 2, inspected);
            await session.SaveChangesAsync(Ct);
        }

        await using var query = store.QuerySession();
        var events = await query.Events.FetchStreamAsync(serial, token: Ct);
        Assert.Equal(["unit-assembled.v1", "unit-inspected.v1"], events.Select(e => e.EventTypeName));
        Assert.Equal([1L, 2L], events.Select(e => e.Version));
        Assert.Equal([assembled, inspected], events.Select(e => e.Data));
        Assert.Equal(2, (await query.Events.FetchStreamStateAsync(serial, Ct))!.Version);

        await using var stored = dataSource.CreateCommand("select type, data::text from ledger.mt_events where stream_id = @s order by version");
        stored.Parameters.AddWithValue("s", serial);
        await using var reader = await stored.ExecuteReaderAsync(Ct);
        Assert.True(await reader.ReadAsync(Ct));
        Assert.Equal("unit-assembled.v1", reader.GetString(0));
        using var data = JsonDocument.Parse(reader.GetString(1));
        Assert.Equal("MP-L1", data.RootElement.GetProperty("line").GetString());
        Assert.Equal(3916.5m, data.RootElement.GetProperty("nameplateKwh").GetDecimal());
    }

    [Theory]
    [InlineData("update ledger.mt_events set data = '{\"edited\":true}'")]
    [InlineData("update ledger.mt_events set headers = '{}'")]
    [InlineData("delete from ledger.mt_events")]
    [InlineData("truncate ledger.mt_events")]
    [InlineData("truncate ledger.mt_events cascade")]
    [InlineData("delete from ledger.mt_streams")]
    [InlineData("truncate ledger.mt_streams cascade")]
    [InlineData("update ledger.mt_streams set type = 'edited'")]
    [InlineData("update ledger.mt_streams set is_archived = true")]
    [InlineData("update ledger.mt_streams set version = version - 1")]
    [InlineData("select ledger.mt_archive_stream(id) from ledger.mt_streams")]
    public async Task History_in_Martens_tables_cannot_be_changed_even_by_the_owner(string sql)
    {
        await using var db = await database.CreateDatabaseAsync(Ct);
        await using var dataSource = await MigratedAsync(db);
        await using var store = Store(dataSource);
        await using (var session = store.LightweightSession())
        {
            session.Events.Append("TST-2026-000002", 2, new UnitAssembled("MP-L2", 3916m), new UnitInspected(false, 0m));
            await session.SaveChangesAsync(Ct);
        }

        var before = await HistoryAsync(dataSource);

        await using var command = dataSource.CreateCommand(sql);
        var refused = await Assert.ThrowsAsync<PostgresException>(() => command.ExecuteNonQueryAsync(Ct));

        Assert.Equal(AppendOnly, refused.SqlState);
        Assert.Equal(before, await HistoryAsync(dataSource));
    }

    [Fact]
    public async Task A_repeated_event_id_is_refused_by_the_unique_index_and_recognised_by_its_sqlstate_and_constraint()
    {
        await using var db = await database.CreateDatabaseAsync(Ct);
        await using var dataSource = await MigratedAsync(db);
        await using var store = Store(dataSource);
        var eventId = Guid.CreateVersion7();
        await AppendWithIdAsync(store, "TST-2026-000003", eventId);

        // Another stream, so only the index on event ids can refuse it (Marten's version check cannot).
        var failure = await Assert.ThrowsAnyAsync<Exception>(() => AppendWithIdAsync(store, "TST-2026-000004", eventId));

        Assert.True(MartenFailures.IsDuplicateEventId(failure), failure.ToString());
        var cause = MartenFailures.PostgresCause(failure)!;
        Assert.Equal(PostgresErrorCodes.UniqueViolation, cause.SqlState);
        Assert.Equal(MartenSetup.EventIdIndex, cause.ConstraintName);
        await using var count = dataSource.CreateCommand("select count(*) from ledger.mt_events where id = @id");
        count.Parameters.AddWithValue("id", eventId);
        Assert.Equal(1L, await count.ExecuteScalarAsync(Ct));
        await using var query = store.QuerySession();
        Assert.Null(await query.Events.FetchStreamStateAsync("TST-2026-000004", Ct));
    }

    [Fact]
    public async Task Other_failures_are_not_taken_for_a_repeated_event_id()
    {
        await using var db = await database.CreateDatabaseAsync(Ct);
        await using var dataSource = await MigratedAsync(db);
        await using var store = Store(dataSource);
        await AppendWithIdAsync(store, "TST-2026-000005", Guid.CreateVersion7());

        // A stale expected version, and a unique violation on another constraint (the stream's primary key).
        var stale = await Assert.ThrowsAnyAsync<Exception>(async () =>
        {
            await using var session = store.LightweightSession();
            session.Events.Append("TST-2026-000005", 1, new UnitInspected(true, 1m));
            await session.SaveChangesAsync(Ct);
        });
        await using var duplicateStream = dataSource.CreateCommand("insert into ledger.mt_streams (id, version) values ('TST-2026-000005', 1)");
        var otherUnique = await Assert.ThrowsAsync<PostgresException>(() => duplicateStream.ExecuteNonQueryAsync(Ct));

        Assert.False(MartenFailures.IsDuplicateEventId(stale), stale.ToString());
        Assert.Equal(PostgresErrorCodes.UniqueViolation, otherUnique.SqlState);
        Assert.False(MartenFailures.IsDuplicateEventId(new InvalidOperationException("wrapped", otherUnique)));
    }

    [Fact]
    public async Task The_store_writes_the_rows_Martens_own_append_writes()
    {
        // The store inserts into Marten's tables itself (decision 0008). A Marten upgrade that writes another column, or a
        // stream row differently, must show up here rather than as rows Marten's readers see differently.
        await using var db = await database.CreateDatabaseAsync(Ct);
        await using var dataSource = await MigratedAsync(db);
        await using var marten = Store(dataSource);
        await using var ledger = new EventStore(dataSource, new EventStoreOptions { EventTypes = EventTypeNames }, marten);
        var metadata = new EventMetadata { Actor = "line-7", CorrelationId = "corr-1", CausationId = "cause-1" };
        var events = new object[] { new UnitAssembled("MP-L1", 3916.5m), new UnitInspected(true, 3901.25m), new UnitInspected(false, 0m) };

        // Both streams are created by their first append and moved on by the next two (a new stream row, then updates).
        foreach (var e in events)
        {
            var data = JsonSerializer.Serialize(e, e.GetType(), new JsonSerializerOptions(JsonSerializerDefaults.Web));
            await ledger.AppendToStreamAsync("TST-LEDGER", ExpectedVersion.Any,
                [new EventData(Guid.CreateVersion7(), EventTypeNames[e.GetType()], data, DateTimeOffset.UtcNow, metadata)], Ct);
            await using var session = marten.LightweightSession();
            (session.CorrelationId, session.CausationId, session.LastModifiedBy) = (metadata.CorrelationId, metadata.CausationId, metadata.Actor);
            session.Events.Append("TST-MARTEN", e);
            await session.SaveChangesAsync(Ct);
        }

        // Every column but the ones that differ by nature: position, id, stream, recorded-at, and the headers (the ledger's
        // hash chain; Marten's session writes none).
        Assert.Equal(await RowsAsync("mt_events", "TST-MARTEN", "version", "seq_id", "id", "stream_id", "timestamp", "headers"),
            await RowsAsync("mt_events", "TST-LEDGER", "version", "seq_id", "id", "stream_id", "timestamp", "headers"));
        Assert.Equal(await RowsAsync("mt_streams", "TST-MARTEN", "id", "id", "timestamp", "created"),
            await RowsAsync("mt_streams", "TST-LEDGER", "id", "id", "timestamp", "created"));
        await using var query = marten.QuerySession();
        Assert.Equal(events, (await query.Events.FetchStreamAsync("TST-LEDGER", token: Ct)).Select(e => e.Data));

        async Task<List<string>> RowsAsync(string table, string stream, string order, params string[] except)
        {
            var key = table == "mt_events" ? "stream_id" : "id";
            await using var command = dataSource.CreateCommand(
                $"select (to_jsonb(t) - @except::text[])::text from ledger.{table} t where {key} = @stream order by {order}");
            command.Parameters.AddWithValue("except", except);
            command.Parameters.AddWithValue("stream", stream);
            var rows = new List<string>();
            await using var reader = await command.ExecuteReaderAsync(Ct);
            while (await reader.ReadAsync(Ct)) rows.Add(reader.GetString(0));
            return rows;
        }
    }

    private static async Task AppendWithIdAsync(DocumentStore store, string stream, Guid eventId)
    {
        await using var session = store.LightweightSession();
        var built = session.Events.BuildEvent(new UnitAssembled("MP-L3", 3916m));
        built.Id = eventId;
        session.Events.Append(stream, built);
        await session.SaveChangesAsync(Ct);
    }

    private static DocumentStore Store(NpgsqlDataSource dataSource) =>
        DocumentStore.For(options => MartenSetup.Configure(options, dataSource, EventTypeNames));

    private static async Task<NpgsqlDataSource> MigratedAsync(TestDatabase db)
    {
        var dataSource = EventStoreDataSource.Create(db.ConnectionString, "marten-schema-tests");
        await new Migrator(dataSource).MigrateAsync([EventStoreSchema.Migrations], Ct);
        return dataSource;
    }

    private static async Task<string> HistoryAsync(NpgsqlDataSource dataSource)
    {
        await using var command = dataSource.CreateCommand("""
            select (select string_agg(e::text, E'\n' order by seq_id) from ledger.mt_events e)
                || E'\n' || (select string_agg(s::text, E'\n' order by id) from ledger.mt_streams s)
            """);
        return (string)(await command.ExecuteScalarAsync(Ct))!;
    }

    // Relations, columns, indexes, triggers and functions of the schema, with the functions' bodies.
    private static async Task<string> CatalogAsync(NpgsqlDataSource dataSource)
    {
        await using var command = dataSource.CreateCommand("""
            select string_agg(x, E'\n' order by x) from (
                select 'relation ' || relname || ' ' || relkind::text as x from pg_class where relnamespace = 'ledger'::regnamespace
                union all select 'column ' || table_name || '.' || column_name || ' ' || data_type || ' ' || coalesce(column_default, '')
                from information_schema.columns where table_schema = 'ledger'
                union all select 'index ' || indexdef from pg_indexes where schemaname = 'ledger'
                union all select 'trigger ' || tgname || ' ' || tgrelid::regclass::text from pg_trigger
                where not tgisinternal and tgrelid::regclass::text like 'ledger.%'
                union all select 'function ' || oid::regprocedure::text || ' ' || md5(prosrc) from pg_proc where pronamespace = 'ledger'::regnamespace
            ) s
            """);
        return (string)(await command.ExecuteScalarAsync(Ct))!;
    }

    private sealed record UnitAssembled(string Line, decimal NameplateKwh);

    private sealed record UnitInspected(bool Passed, decimal MeasuredKwh);
}
