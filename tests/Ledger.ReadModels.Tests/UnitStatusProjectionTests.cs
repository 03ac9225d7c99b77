using Ledger.EventStore;
using Ledger.EventStore.Schema;
using Ledger.Production.Units;
using Ledger.Testing;
using Npgsql;

namespace Ledger.ReadModels.Tests;

/// <summary>The inline UnitStatus row, written in the append's own transaction.</summary>
public sealed class UnitStatusProjectionTests(DatabaseFixture database) : IClassFixture<DatabaseFixture>, IAsyncLifetime
{
    private static readonly DateTimeOffset Day = new(2025, 3, 3, 0, 0, 0, TimeSpan.Zero);
    private NpgsqlDataSource _dataSource = null!;
    private EventStore.EventStore _store = null!;
    private readonly UnitStatusProjection _projection = new();
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        _dataSource = database.CreateDataSource();
        await new Migrator(_dataSource).MigrateAsync([EventStoreSchema.Migrations, ReadModelsSchema.Migrations], Ct);
        _store = new EventStore.EventStore(_dataSource, new EventStoreOptions { InlineProjections = { _projection } });
    }

    public async ValueTask DisposeAsync() => await _store.DisposeAsync();

    [Fact]
    public async Task A_unit_that_failed_was_reworked_passed_and_was_reshipped_shows_its_latest_shipment()
    {
        var serial = "US-" + Guid.NewGuid().ToString("N")[..10].ToUpperInvariant();
        var result = await AppendAsync(serial,
            new UnitBuilt("shanghai", "MP-L1", "Megapack 2 XL", 3916m),
            new UnitTested("EOL-03", TestOutcome.Failed, 3512m, 0.86m, "E-THERM-042"),
            new UnitReworked("Replaced coolant pump", "RW-01"),
            new UnitTested("EOL-03", TestOutcome.Passed, 3890.4m, 0.92m),
            new UnitShipped(new Destination("DE", "Bollingstedt"), "COSCO Shipping", "SHP-1"),
            new ShipmentCancelled("SHP-1", "Vessel withdrawn"),
            new UnitShipped(new Destination("AU", "Collie Battery"), "Maersk", "SHP-2"));

        var status = await new UnitStatusQuery(_dataSource).GetAsync(serial, Ct);

        Assert.NotNull(status);
        Assert.Equal("in-transit", status.State);
        Assert.Equal("shanghai", status.FactoryId);
        Assert.Equal(3916m, status.NameplateKwh);
        Assert.Equal(new LatestTest("passed", "EOL-03", 3890.4m, 0.92m, null, Day.AddHours(3)), status.LatestTest);
        Assert.Equal(new UnitDestination("AU", "Australia", "Collie Battery"), status.Destination);
        Assert.Equal("SHP-2", status.ShipmentId);
        Assert.Equal(Day.AddHours(6), status.ShippedAt);
        Assert.Equal(7, status.Version);
        Assert.Equal(result.Events[^1].Position, status.Position);
    }

    [Fact]
    public async Task Each_append_moves_the_row_in_the_same_transaction()
    {
        var serial = "US-" + Guid.NewGuid().ToString("N")[..10].ToUpperInvariant();
        var query = new UnitStatusQuery(_dataSource);

        await AppendAsync(serial, new UnitBuilt("lathrop", "L2", "Megapack 2 XL", 3916m));
        var built = await query.GetAsync(serial, Ct);
        await AppendAsync(serial, new UnitTested("EOL-1", TestOutcome.Passed, 3900m, 0.93m));
        var tested = await query.GetAsync(serial, Ct);

        Assert.Equal(("built", 1L), (built!.State, built.Version));
        Assert.Equal(("passed", 2L), (tested!.State, tested.Version));
        Assert.Null(await query.GetAsync("NO-SUCH-UNIT", Ct));
    }

    [Fact]
    public async Task A_rebuild_while_appends_continue_swaps_in_a_table_equal_to_the_streams()
    {
        await using var db = await database.CreateDatabaseAsync(Ct);
        await using var dataSource = db.CreateDataSource();
        await new Migrator(dataSource).MigrateAsync([EventStoreSchema.Migrations, ReadModelsSchema.Migrations], Ct);
        await using var store = new EventStore.EventStore(dataSource, new EventStoreOptions { InlineProjections = { new UnitStatusProjection() } });
        var serials = Enumerable.Range(0, 400).Select(i => $"RB-{i:D5}").ToArray();
        foreach (var chunk in serials.Chunk(50))
        {
            await store.AppendAsync([.. chunk.Select(s => new StreamAppend(s, ExpectedVersion.NoStream,
                [Event(new UnitBuilt("lathrop", "L1", "Megapack 2 XL", 3916m), 0)]))], Ct);
        }

        // Appends go on while the rebuild runs: tests of existing units and new units.
        var appending = Task.Run(async () =>
        {
            for (var i = 0; i < 150; i++)
            {
                await store.AppendToStreamAsync(serials[i * 2], ExpectedVersion.Exactly(1), [Event(new UnitTested("EOL", TestOutcome.Passed, 3900m, 0.9m), 1)], Ct);
                await store.AppendToStreamAsync($"RB-NEW-{i:D4}", ExpectedVersion.NoStream, [Event(new UnitBuilt("shanghai", "L1", "Megapack 2 XL", 3916m), 0)], Ct);
            }
        }, Ct);
        var reports = new List<(long Done, long Total)>();
        var rebuild = new UnitStatusRebuild(dataSource)
        {
            // The window a rebuild could lose: after the replay read these units, before the swap.
            BeforeSwap = async ct =>
            {
                await store.AppendToStreamAsync(serials[^1], ExpectedVersion.Any, [Event(new UnitTested("EOL", TestOutcome.Failed, 3000m, 0.8m, "E-1"), 2)], ct);
                await store.AppendToStreamAsync("RB-LATE", ExpectedVersion.NoStream, [Event(new UnitBuilt("lathrop", "L2", "Megapack 2 XL", 3916m), 0)], ct);
            },
        };
        var rebuilt = await rebuild.RunAsync(new Progress<(long, long)>(p => { lock (reports) reports.Add(p); }), Ct);
        await appending;

        Assert.True(rebuilt >= 400);
        var streams = await store.ReadStreamsAsync([.. serials, "RB-LATE", .. Enumerable.Range(0, 150).Select(i => $"RB-NEW-{i:D4}")], Ct);
        var query = new UnitStatusQuery(dataSource);
        foreach (var (serial, history) in streams)
        {
            var expected = UnitStatus.From(serial, UnitHistory.Fold(history), history[^1].Position);
            Assert.Equal(expected, await query.GetAsync(serial, Ct));
        }

        await using var count = dataSource.CreateCommand("select count(*) from ledger.unit_status");
        Assert.Equal(551L, await count.ExecuteScalarAsync(Ct));
        Assert.Equal("failed", (await query.GetAsync(serials[^1], Ct))!.State);

        // The shadow was copied into without its indexes; the table swapped in has every one of them back.
        await using var indexes = dataSource.CreateCommand(
            "select string_agg(d, '; ' order by d) from (select i.indisprimary || ' ' || regexp_replace(pg_get_indexdef(i.indexrelid), '^.* USING ', '') as d " +
            "from pg_index i where i.indrelid = 'ledger.unit_status'::regclass) indexes");
        Assert.Equal(
            "false btree (destination_country, serial); false btree (destination_region, serial); false btree (factory_id, serial); " +
            "false btree (state, serial); true btree (serial)",
            await indexes.ExecuteScalarAsync(Ct));
    }

    [Fact]
    public async Task A_state_the_writer_folded_gives_the_row_that_folding_the_stream_gives()
    {
        var serial = "US-" + Guid.NewGuid().ToString("N")[..10].ToUpperInvariant();
        await AppendAsync(serial, new UnitBuilt("lathrop", "L2", "Megapack 2 XL", 3916m),
            new UnitTested("EOL-1", TestOutcome.Failed, 3500m, 0.86m, "E-THERM-042"), new UnitReworked("Replaced coolant pump"));
        var folded = UnitHistory.Fold(await _store.ReadStreamAsync(serial, cancellationToken: Ct));

        AppendResult result;
        using (_projection.Remember(serial, folded))
        {
            result = await AppendAsync(serial, new UnitTested("EOL-1", TestOutcome.Passed, 3890m, 0.92m),
                new UnitShipped(new Destination("GB", "Pillswood, Hull"), "Maersk Line", "SHP-9"));
        }

        var history = await _store.ReadStreamAsync(serial, cancellationToken: Ct);
        Assert.Equal(UnitStatus.From(serial, UnitHistory.Fold(history), result.Events[^1].Position),
            await new UnitStatusQuery(_dataSource).GetAsync(serial, Ct));
    }

    [Fact]
    public async Task A_remembered_state_stands_for_the_stream_only_at_its_own_version()
    {
        var serial = "US-" + Guid.NewGuid().ToString("N")[..10].ToUpperInvariant();
        await AppendAsync(serial, new UnitBuilt("lathrop", "L2", "Megapack 2 XL", 3916m));
        var atOne = UnitHistory.Fold(await _store.ReadStreamAsync(serial, cancellationToken: Ct));
        var query = new UnitStatusQuery(_dataSource);

        // Handed over for version 1, it replaces reading the stream for an append at version 2 (the store checked the
        // version under the stream's lock). A state marked "as remembered" shows that it was used.
        using (_projection.Remember(serial, atOne with { Line = "as remembered" }))
        {
            await AppendAsync(serial, new UnitTested("EOL-1", TestOutcome.Passed, 3890m, 0.92m));
            var used = await query.GetAsync(serial, Ct);
            Assert.Equal(("as remembered", 2L), (used!.Line, used.Version));

            // For an append at version 3 it says nothing: the stream is read and folded, and the row is the stream's again.
            await AppendAsync(serial, new UnitShipped(new Destination("AU", "Collie Battery"), "Maersk Line", "SHP-1"));
            var read = await query.GetAsync(serial, Ct);
            Assert.Equal(("L2", "in-transit", 3L), (read!.Line, read.State, read.Version));
        }
    }

    private static EventData Event(IUnitEvent e, int hours) =>
        new(Guid.CreateVersion7(), UnitEvents.Of(e).StoredName, UnitEvents.Serialize(e), Day.AddHours(hours));

    private async Task<AppendResult> AppendAsync(string serial, params IUnitEvent[] events)
    {
        var version = await _store.GetStreamVersionAsync(serial, Ct);
        var data = events.Select((e, i) => new EventData(Guid.CreateVersion7(), UnitEvents.Of(e).StoredName, UnitEvents.Serialize(e),
            Day.AddHours(version + i))).ToList();
        return await _store.AppendToStreamAsync(serial, ExpectedVersion.Exactly(version), data, Ct);
    }
}
