using Ledger.Api.Features.Integration.Journal;
using Ledger.Api.Features.Integration.Units;
using Ledger.Api.Tests.Support;
using Ledger.Testing;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Wolverine;

namespace Ledger.Api.Tests.Integration;

/// <summary>
/// The local transport's journal (<c>ledger.integration_events</c>): a batch is stored in its order, once per message id,
/// with redeliveries counted; and what the durable local queue may still hold from before decision 0009, one integration
/// event per envelope, is journaled too.
/// </summary>
public sealed class IntegrationJournalTests(DatabaseFixture database) : IClassFixture<DatabaseFixture>, IAsyncLifetime
{
    private readonly LedgerApiFactory _api = new(database.ConnectionString);
    private NpgsqlDataSource _db = null!;
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public ValueTask InitializeAsync()
    {
        _ = _api.CreateClient();
        _db = database.CreateDataSource();
        return ValueTask.CompletedTask;
    }

    public async ValueTask DisposeAsync()
    {
        await _db.DisposeAsync();
        await _api.DisposeAsync();
    }

    [Fact]
    public async Task A_batch_is_journaled_in_its_order_once_per_message_id_and_redeliveries_are_counted_keeping_the_first_body()
    {
        var journal = _api.Services.GetRequiredService<IntegrationJournal>();
        var (a, b, c) = (Guid.CreateVersion7(), Guid.CreateVersion7(), Guid.CreateVersion7());
        // b before a: the order given, not the ids' order. a comes twice in the first batch (a redelivery beside the original).
        await journal.RecordAsync([Entry(b, "first b"), Entry(a, "first a"), Entry(a, "second a")], Ct);
        await journal.RecordAsync([Entry(c, "first c"), Entry(b, "second b")], Ct);

        var rows = await RowsAsync([a, b, c]);
        Assert.Equal([(b, 2, "first b"), (a, 2, "first a"), (c, 1, "first c")], rows);
    }

    [Fact]
    public async Task An_integration_event_queued_on_its_own_is_journaled()
    {
        var shipped = new UnitShipped(Guid.CreateVersion7(), "LTP-2026-000001", "lathrop", new UnitDestination("DE", "Europe", "Kiel"),
            3916m, "Maersk", "SHP-1", DateTimeOffset.UtcNow, DateTimeOffset.UtcNow, 3, 1);
        await using (var scope = _api.Services.CreateAsyncScope())
        {
            await scope.ServiceProvider.GetRequiredService<IMessageBus>().PublishAsync(shipped);
        }

        var deadline = DateTime.UtcNow.AddSeconds(60);
        List<(Guid Id, int Deliveries, string Note)> rows;
        while ((rows = await RowsAsync([shipped.EventId])).Count == 0)
        {
            Assert.True(DateTime.UtcNow < deadline, "the single message was not journaled within 60 s");
            await Task.Delay(100, Ct);
        }

        Assert.Equal(1, Assert.Single(rows).Deliveries);
    }

    private static JournalEntry Entry(Guid id, string note) => new(id, "ledger.unit-shipped.v1", $$"""{"note": "{{note}}"}""");

    private async Task<List<(Guid Id, int Deliveries, string Note)>> RowsAsync(Guid[] ids)
    {
        await using var command = _db.CreateCommand(
            "select message_id, deliveries, coalesce(body->>'note', '') from ledger.integration_events where message_id = any($1) order by seq");
        command.Parameters.Add(new NpgsqlParameter { Value = ids });
        var rows = new List<(Guid, int, string)>();
        await using var reader = await command.ExecuteReaderAsync(Ct);
        while (await reader.ReadAsync(Ct)) rows.Add((reader.GetGuid(0), reader.GetInt32(1), reader.GetString(2)));
        return rows;
    }
}
