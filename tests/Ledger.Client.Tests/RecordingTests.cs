using Ledger.Api.Access;
using Ledger.Api.Tests.Support;
using Ledger.Client.Tests.Support;
using Ledger.Production.Units;
using Ledger.Testing;

namespace Ledger.Client.Tests;

/// <summary>Line systems record events through the client: one, a unit's several, and batches across units.</summary>
public sealed class RecordingTests(DatabaseFixture database) : IClassFixture<DatabaseFixture>, IAsyncLifetime
{
    private readonly LedgerApiFactory _api = new(database.ConnectionString);
    private LedgerClient _line = null!;
    private LedgerClient _auditor = null!;
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        _line = await _api.ClientAsync(LedgerRole.Line);
        _auditor = await _api.ClientAsync(LedgerRole.Auditor);
    }

    public async ValueTask DisposeAsync() => await _api.DisposeAsync();

    [Fact]
    public async Task Recording_one_event_creates_the_unit_at_version_one()
    {
        var serial = Lines.NewSerial();

        var receipt = await _line.RecordAsync(serial, Lines.Built(), cancellationToken: Ct);

        Assert.Equal(serial, receipt.Serial);
        Assert.Equal(1, receipt.Version);
        var recorded = Assert.Single(receipt.Events);
        Assert.Equal(("UnitBuilt", 1L), (recorded.Type, recorded.Version));
        Assert.Equal(receipt.Position, recorded.Position);
        var unit = await _auditor.GetUnitAsync(serial, Ct);
        Assert.Equal(("built", "shanghai", 3916m), (unit!.State, unit.FactoryId, unit.NameplateKwh));
    }

    [Fact]
    public async Task Recording_a_units_events_stores_them_in_order_with_their_moments_and_ids()
    {
        var serial = Lines.NewSerial();
        var id = Guid.CreateVersion7();
        var builtAt = new DateTimeOffset(2025, 3, 10, 9, 15, 30, 250, TimeSpan.FromHours(8));

        var receipt = await _line.RecordAsync(serial, [Lines.Built(builtAt, id: id), Lines.Tested(at: builtAt.AddHours(2)), Lines.Shipped(at: builtAt.AddDays(1))], cancellationToken: Ct);

        Assert.Equal(3, receipt.Version);
        Assert.Equal(["UnitBuilt", "UnitTested", "UnitShipped"], receipt.Events.Select(e => e.Type));
        var history = await _auditor.GetUnitHistoryAsync(serial, Ct);
        Assert.Equal(id, history!.Events[0].EventId);
        Assert.Equal(builtAt, history.Events[0].OccurredAt);
        Assert.Equal(new UnitBuilt("shanghai", "MP-L1", "Megapack 2 XL", 3916m), history.Events[0].ToOccurredEvent()!.Event);
        Assert.Equal(Lines.Collie, ((UnitShipped)history.Events[2].ToOccurredEvent()!.Event).Destination);
    }

    [Fact]
    public async Task A_batch_records_events_for_many_units_at_once()
    {
        var serials = Enumerable.Range(0, 5).Select(_ => Lines.NewSerial()).ToList();

        var receipt = await _line.RecordBatchAsync([.. serials.SelectMany(s => new[] { Lines.Built().For(s), Lines.Tested().For(s) })], cancellationToken: Ct);

        Assert.Equal(serials, receipt.Units.Select(u => u.Serial));
        Assert.All(receipt.Units, u => Assert.Equal(2, u.Version));
        Assert.Equal(receipt.Units.Max(u => u.Position), receipt.Position);
        foreach (var serial in serials) Assert.Equal("passed", (await _auditor.GetUnitAsync(serial, Ct))!.State);
    }

    [Fact]
    public async Task An_expected_version_records_only_while_the_unit_is_at_it()
    {
        var serial = Lines.NewSerial();
        await _line.RecordAsync(serial, Lines.Built(), new RecordOptions { ExpectedVersion = 0 }, Ct);
        await _line.RecordAsync(serial, Lines.Tested(), new RecordOptions { ExpectedVersion = 1 }, Ct);

        var stale = await Assert.ThrowsAsync<LedgerProblemException>(() => _line.RecordAsync(serial, Lines.Shipped(), new RecordOptions { ExpectedVersion = 1 }, Ct));

        Assert.Equal(LedgerProblemTypes.PreconditionFailed, stale.Problem.Type);
        Assert.Equal(412, stale.Problem.Status);
        Assert.Equal(1, stale.Problem.Extensions["expectedVersion"].GetInt64());
        Assert.Equal(2, stale.Problem.Extensions["actualVersion"].GetInt64());
        Assert.Equal(2, (await _auditor.GetUnitAsync(serial, Ct))!.Version);
    }

    [Fact]
    public async Task Each_post_carries_an_idempotency_key_of_its_own_unless_given_one()
    {
        var network = new FaultyNetwork();
        var line = await _api.ClientAsync(LedgerRole.Line, network: network);
        var serial = Lines.NewSerial();

        await line.RecordAsync(serial, Lines.Built(), cancellationToken: Ct);
        await line.RecordAsync(serial, Lines.Tested(), cancellationToken: Ct);
        await line.RecordAsync(serial, Lines.Shipped(), new RecordOptions { IdempotencyKey = "dock-7:SHP-SHA-2025-00001:unit-1", ExpectedVersion = 2 }, Ct);

        var keys = network.Sent.Select(s => s.IdempotencyKey).ToList();
        Assert.All(keys, Assert.NotNull);
        Assert.Equal(3, keys.Distinct().Count());
        Assert.Equal("dock-7:SHP-SHA-2025-00001:unit-1", keys[2]);
        Assert.Equal("\"2\"", network.Sent[2].IfMatch);
        Assert.StartsWith("Bearer ldg_", network.Sent[0].Authorization, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_expected_version_is_refused_for_a_batch_across_units_before_anything_is_sent()
    {
        var network = new FaultyNetwork();
        var line = await _api.ClientAsync(LedgerRole.Line, network: network);

        await Assert.ThrowsAsync<ArgumentException>(() =>
            line.RecordBatchAsync([Lines.Built().For(Lines.NewSerial())], new RecordOptions { ExpectedVersion = 0 }, Ct));

        Assert.Empty(network.Sent);
    }
}
