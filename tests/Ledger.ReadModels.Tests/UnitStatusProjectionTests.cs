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
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        _dataSource = database.CreateDataSource();
        await new Migrator(_dataSource).MigrateAsync([EventStoreSchema.Migrations, ReadModelsSchema.Migrations], Ct);
        _store = new EventStore.EventStore(_dataSource, new EventStoreOptions { InlineProjections = { new UnitStatusProjection() } });
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

    private async Task<AppendResult> AppendAsync(string serial, params IUnitEvent[] events)
    {
        var version = await _store.GetStreamVersionAsync(serial, Ct);
        var data = events.Select((e, i) => new EventData(Guid.CreateVersion7(), UnitEvents.Of(e).StoredName, UnitEvents.Serialize(e),
            Day.AddHours(version + i))).ToList();
        return await _store.AppendToStreamAsync(serial, ExpectedVersion.Exactly(version), data, Ct);
    }
}
