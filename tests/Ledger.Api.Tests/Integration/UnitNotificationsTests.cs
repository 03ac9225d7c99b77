using System.Diagnostics;
using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Ledger.Api.Access;
using Ledger.Api.Features.Integration;
using Ledger.Api.ServiceDefaults.Messaging;
using Ledger.Api.Tests.Support;
using Ledger.Api.Tests.WritePath;
using Ledger.Testing;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Wolverine.Runtime;
using Wolverine.Runtime.Routing;
using static Ledger.Api.Tests.WritePath.RecordUnitEventsTests;

namespace Ledger.Api.Tests.Integration;

/// <summary>
/// UnitShipped, UnitDelivered and UnitCommissioned notifications (docs/integration-events.md) with the embedded default
/// transport: published from the committed stream by the <c>integration</c> subscription to the durable local queue, and
/// journaled once per message id in <c>ledger.integration_events</c>.
/// </summary>
public sealed class UnitNotificationsTests(DatabaseFixture database) : IClassFixture<DatabaseFixture>, IAsyncLifetime
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);
    private readonly LedgerApiFactory _api = new(database.ConnectionString);
    private HttpClient _lathrop = null!;
    private NpgsqlDataSource _db = null!;
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        _lathrop = _api.CreateClient(await _api.CreateKeyAsync(LedgerRole.Line, "lathrop"));
        _db = database.CreateDataSource();
    }

    public async ValueTask DisposeAsync()
    {
        _lathrop.Dispose();
        await _api.DisposeAsync();
    }

    [Fact]
    public async Task Shipping_delivering_and_commissioning_a_unit_journal_one_notification_each_with_the_event_id_as_message_id()
    {
        var serial = LineEvents.NewSerial("N");
        await RecordAsync(serial, new JsonArray(LineEvents.Built(), LineEvents.Tested(), LineEvents.Shipped("DE")));
        await RecordAsync(serial, LineEvents.Envelope("UnitDelivered", LineEvents.Day.AddDays(20), null, new JsonObject { ["site"] = "Waratah Super Battery" }));
        await RecordAsync(serial, LineEvents.Envelope("UnitCommissioned", LineEvents.Day.AddDays(30), null, new JsonObject { ["site"] = "Waratah Super Battery" }));

        var journal = await WaitForJournalAsync([serial], 3);

        var recorded = await RecordedAsync(serial);
        Assert.Equal(["ledger.unit-shipped.v1", "ledger.unit-delivered.v1", "ledger.unit-commissioned.v1"], journal.Select(j => j.Type));
        Assert.All(journal, j => Assert.Equal(1, j.Deliveries));
        for (var i = 0; i < 3; i++)
        {
            var (eventId, version, position, occurredAt, recordedAt) = recorded[i + 2];
            var message = journal[i].Body;
            Assert.Equal(eventId, journal[i].MessageId);
            Assert.Equal(eventId, message.GetProperty("eventId").GetGuid());
            Assert.Equal(serial, message.GetProperty("serial").GetString());
            Assert.Equal("lathrop", message.GetProperty("factoryId").GetString());
            Assert.Equal(3916m, message.GetProperty("energyKwh").GetDecimal());
            var destination = message.GetProperty("destination");
            Assert.Equal("DE", destination.GetProperty("country").GetString());
            Assert.Equal("Europe", destination.GetProperty("region").GetString());
            Assert.Equal("Waratah Super Battery", destination.GetProperty("site").GetString());
            Assert.Equal(version, message.GetProperty("streamVersion").GetInt64());
            Assert.Equal(position, message.GetProperty("position").GetInt64());
            Assert.Equal(occurredAt, message.GetProperty("occurredAt").GetDateTimeOffset());
            Assert.Equal(recordedAt, message.GetProperty("recordedAt").GetDateTimeOffset());
        }

        Assert.Equal("Maersk", journal[0].Body.GetProperty("carrier").GetString());
        Assert.Equal(journal[0].Body.GetProperty("shipmentId").GetString(), journal[1].Body.GetProperty("shipmentId").GetString());
    }

    [Fact]
    public async Task Refused_requests_publish_nothing()
    {
        var untested = LineEvents.NewSerial("R");
        var stale = LineEvents.NewSerial("R");
        var invalid = LineEvents.NewSerial("R");
        await RecordAsync(untested, LineEvents.Built());
        await RecordAsync(stale, new JsonArray(LineEvents.Built(), LineEvents.Tested()));

        // 422: an untested unit may not ship.
        using (var response = await _lathrop.SendAsync(LineEvents.Post($"/api/v1/units/{untested}/events", LineEvents.Shipped()), Ct))
        {
            await AssertProblemAsync(response, HttpStatusCode.UnprocessableEntity, "rule-violation");
        }

        // 412: the line system's view of the unit is out of date.
        using (var response = await _lathrop.SendAsync(LineEvents.Post($"/api/v1/units/{stale}/events", LineEvents.Shipped(), ifMatch: "\"1\""), Ct))
        {
            Assert.Equal(HttpStatusCode.PreconditionFailed, response.StatusCode);
        }

        // 400: a shipment without a destination country, in a batch with a valid one, stores nothing.
        var noCountry = LineEvents.Shipped();
        noCountry["data"]!["destination"]!.AsObject().Remove("country");
        using (var response = await _lathrop.SendAsync(LineEvents.Post($"/api/v1/units/{invalid}/events",
                   new JsonArray(LineEvents.Built(), LineEvents.Tested(), noCountry)), Ct))
        {
            await AssertProblemAsync(response, HttpStatusCode.BadRequest, "validation-failed");
        }

        // A shipment recorded after the refusals: once its notification is journaled, the subscription has read past
        // anything they could have recorded.
        var fence = LineEvents.NewSerial("R");
        await RecordAsync(fence, new JsonArray(LineEvents.Built(), LineEvents.Tested(), LineEvents.Shipped()));
        await WaitForJournalAsync([fence], 1);

        Assert.Empty(await JournalAsync([untested, stale, invalid]));
    }

    [Fact]
    public async Task A_batch_across_many_units_publishes_every_shipment()
    {
        const int units = 300;
        var serials = Enumerable.Range(0, units).Select(_ => LineEvents.NewSerial("M")).ToArray();
        var events = serials.SelectMany(s => new[] { LineEvents.Built().WithSerial(s), LineEvents.Tested().WithSerial(s), LineEvents.Shipped("JP").WithSerial(s) });
        var envelopesBefore = await JournalBatchEnvelopesAsync();
        var clock = Stopwatch.StartNew();
        using (var response = await _lathrop.SendAsync(LineEvents.Post("/api/v1/events", new JsonObject { ["events"] = new JsonArray([.. events]) }), Ct))
        {
            Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        }

        var journal = await WaitForJournalAsync(serials, units);
        var elapsed = clock.Elapsed;

        // A batch of the subscription travels the local queue as one envelope (decision 0009), not one per message: the
        // 300 shipments sit in a few daemon batches.
        var envelopes = await JournalBatchEnvelopesAsync() - envelopesBefore;
        Assert.InRange(envelopes, 1, units / 10);

        Assert.Equal(serials.Order(StringComparer.Ordinal), journal.Select(j => j.Body.GetProperty("serial").GetString()!).Order(StringComparer.Ordinal));
        Assert.All(journal, j => Assert.Equal(1, j.Deliveries));
        Assert.All(journal, j => Assert.Equal("Asia Pacific", j.Body.GetProperty("destination").GetProperty("region").GetString()));
        await using var ids = _db.CreateCommand("""
            select count(*) from ledger.events e join ledger.integration_events j on j.message_id = e.event_id
            where e.stream_id = any(@serials) and e.type = 'unit-shipped.v1'
            """);
        ids.Parameters.AddWithValue("serials", serials);
        Assert.Equal((long)units, await ids.ExecuteScalarAsync(Ct));
        TestContext.Current.TestOutputHelper?.WriteLine($"{units} shipments in one batch: journaled {elapsed.TotalSeconds:F2} s after the request was sent, in {envelopes} envelopes.");
    }

    [Fact]
    public async Task The_journal_is_readable_by_admins_a_page_at_a_time()
    {
        var serials = Enumerable.Range(0, 3).Select(_ => LineEvents.NewSerial("J")).ToArray();
        foreach (var serial in serials) await RecordAsync(serial, new JsonArray(LineEvents.Built(), LineEvents.Tested(), LineEvents.Shipped()));
        await WaitForJournalAsync(serials, 3);
        using var admin = _api.CreateClient(await _api.CreateKeyAsync(LedgerRole.Admin));
        using var auditor = _api.CreateClient(await _api.CreateKeyAsync(LedgerRole.Auditor));

        var seen = new List<string>();
        string? cursor = null;
        do
        {
            using var response = await admin.GetAsync(new Uri($"/api/v1/integration-events?type=ledger.unit-shipped.v1&limit=1{(cursor is null ? "" : "&cursor=" + cursor)}", UriKind.Relative), Ct);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var page = await response.BodyAsync();
            var events = page.GetProperty("events").EnumerateArray().ToList();
            Assert.True(events.Count <= 1);
            seen.AddRange(events.Select(e => e.GetProperty("message").GetProperty("serial").GetString()!));
            cursor = page.GetProperty("next").GetString();
        }
        while (cursor is not null);

        Assert.Equal(serials, seen.Where(serials.Contains));
        using var forbidden = await auditor.GetAsync(new Uri("/api/v1/integration-events", UriKind.Relative), Ct);
        Assert.Equal(HttpStatusCode.Forbidden, forbidden.StatusCode);
        using var badType = await admin.GetAsync(new Uri("/api/v1/integration-events?type=unit-shipped&limit=0&cursor=x", UriKind.Relative), Ct);
        var problem = await AssertProblemAsync(badType, HttpStatusCode.BadRequest, "validation-failed");
        Assert.Equal(["cursor", "limit", "type"], problem.GetProperty("errors").EnumerateObject().Select(e => e.Name).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task The_subscription_is_not_a_read_model_operators_can_rebuild_or_skip()
    {
        var serial = LineEvents.NewSerial("P");
        await RecordAsync(serial, new JsonArray(LineEvents.Built(), LineEvents.Tested(), LineEvents.Shipped()));
        await WaitForJournalAsync([serial], 1);
        using var admin = _api.CreateClient(await _api.CreateKeyAsync(LedgerRole.Admin));

        using var list = await admin.GetAsync(new Uri("/api/v1/projections", UriKind.Relative), Ct);
        Assert.Equal(HttpStatusCode.OK, list.StatusCode);
        var names = (await list.BodyAsync()).EnumerateArray().Select(p => p.GetProperty("name").GetString()).ToList();
        Assert.DoesNotContain(names, n => n!.StartsWith("integration", StringComparison.Ordinal));
        Assert.Contains("milestones", names);
        foreach (var action in new[] { "rebuild", "retry", "skip" })
        {
            using var response = await admin.PostAsync(new Uri($"/api/v1/projections/integration/{action}", UriKind.Relative), null, Ct);
            var problem = await AssertProblemAsync(response, HttpStatusCode.NotFound, "not-found");
            Assert.Contains("integration subscription", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        }

        // Its progression is Marten's row for the subscription, and it has passed the shipment just journaled.
        await using var progression = _db.CreateCommand("select last_seq_id from ledger.mt_event_progression where name = 'integration:All'");
        await using var shipped = _db.CreateCommand("select position from ledger.events where stream_id = @s and type = 'unit-shipped.v1'");
        shipped.Parameters.AddWithValue("s", serial);
        Assert.True((long)(await progression.ExecuteScalarAsync(Ct))! >= (long)(await shipped.ExecuteScalarAsync(Ct))!);
    }

    [Fact]
    public async Task Upgrading_a_ledger_with_history_announces_only_what_is_recorded_afterwards()
    {
        // A ledger of the release before: history recorded, then migration 0005 and the journal taken away again.
        await using var ledger = await database.CreateDatabaseAsync(Ct);
        await using (var old = new LedgerApiFactory(ledger.ConnectionString, settings: new Dictionary<string, string?> { ["Ledger:Projections:RunDaemon"] = "false" }))
        {
            using var line = old.CreateClient(await old.CreateKeyAsync(LedgerRole.Line, "lathrop"));
            using var response = await line.SendAsync(LineEvents.Post($"/api/v1/units/{LineEvents.NewSerial("U")}/events", new JsonArray(LineEvents.Built(), LineEvents.Tested(), LineEvents.Shipped())), Ct);
            Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        }

        await using var db = NpgsqlDataSource.Create(ledger.ConnectionString);
        await using (var downgrade = db.CreateCommand("""
            delete from ledger.migrations where module = 'ledger-api' and version = 5;
            drop table ledger.integration_events;
            delete from ledger.mt_event_progression where name = 'integration:All';
            """))
        {
            await downgrade.ExecuteNonQueryAsync(Ct);
        }

        // The new release migrates, and its subscription starts at the head it found.
        await using var upgraded = new LedgerApiFactory(ledger.ConnectionString);
        using var lathrop = upgraded.CreateClient(await upgraded.CreateKeyAsync(LedgerRole.Line, "lathrop"));
        var after = LineEvents.NewSerial("U");
        using (var response = await lathrop.SendAsync(LineEvents.Post($"/api/v1/units/{after}/events", new JsonArray(LineEvents.Built(), LineEvents.Tested(), LineEvents.Shipped())), Ct))
        {
            Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        }

        var clock = Stopwatch.StartNew();
        await using var journal = db.CreateCommand("select string_agg(body->>'serial', ',' order by seq) from ledger.integration_events");
        while (await journal.ExecuteScalarAsync(Ct) is not string && clock.Elapsed < Patience) await Task.Delay(50, Ct);
        // Had the subscription started below the old shipment, it would have published that first (same batch or an
        // earlier one); the local queue may journal it a moment after the new one.
        await Task.Delay(TimeSpan.FromSeconds(2), Ct);

        Assert.Equal(after, (string?)await journal.ExecuteScalarAsync(Ct));
    }

    [Fact]
    public void Every_integration_event_type_has_exactly_one_route_to_the_journal_queue()
    {
        var runtime = _api.Services.GetRequiredService<IWolverineRuntime>();

        Assert.Equal(
            ["Ledger.Api.Features.Integration.Units.UnitCommissioned", "Ledger.Api.Features.Integration.Units.UnitDelivered", "Ledger.Api.Features.Integration.Units.UnitShipped"],
            IntegrationTransport.MessageTypes.Select(t => t.FullName).Where(n => n!.Contains(".Units.", StringComparison.Ordinal)));
        Assert.All(IntegrationTransport.MessageTypes, type =>
        {
            var route = Assert.IsType<MessageRoute>(Assert.Single(runtime.RoutingFor(type).Routes));
            Assert.Equal(new Uri($"local://{IntegrationTransport.JournalQueue}"), route.Uri);
            Assert.True(type.IsAssignableTo(typeof(IIntegrationEvent)));
        });
    }

    private async Task RecordAsync(string serial, JsonNode body)
    {
        using var response = await _lathrop.SendAsync(LineEvents.Post($"/api/v1/units/{serial}/events", body), Ct);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
    }

    private sealed record Journaled(Guid MessageId, string Type, int Deliveries, JsonElement Body);

    // Wolverine keeps a handled envelope in its inbox for a while (KeepAfterMessageHandling, 5 minutes), long enough here.
    private async Task<long> JournalBatchEnvelopesAsync()
    {
        await using var command = _db.CreateCommand("select count(*) from ledger.wolverine_incoming_envelopes where message_type = 'ledger.integration-journal-batch'");
        return (long)(await command.ExecuteScalarAsync(Ct))!;
    }

    private async Task<List<Journaled>> JournalAsync(IReadOnlyCollection<string> serials)
    {
        await using var command = _db.CreateCommand("""
            select message_id, type, deliveries, body::text from ledger.integration_events
            where body->>'serial' = any(@serials) order by seq
            """);
        command.Parameters.AddWithValue("serials", serials.ToArray());
        var rows = new List<Journaled>();
        await using var reader = await command.ExecuteReaderAsync(Ct);
        while (await reader.ReadAsync(Ct))
        {
            using var body = JsonDocument.Parse(reader.GetString(3));
            rows.Add(new Journaled(reader.GetGuid(0), reader.GetString(1), reader.GetInt32(2), body.RootElement.Clone()));
        }

        return rows;
    }

    private async Task<List<Journaled>> WaitForJournalAsync(IReadOnlyCollection<string> serials, int count)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var rows = await JournalAsync(serials);
            if (rows.Count >= count) return rows;
            if (clock.Elapsed > Patience) Assert.Fail($"{rows.Count} of {count} notifications journaled after {Patience.TotalSeconds} s; {await MessagingStateAsync()}");
            await Task.Delay(50, Ct);
        }
    }

    // Where the notifications stopped, for a failure's message.
    private async Task<string> MessagingStateAsync()
    {
        await using var command = _db.CreateCommand("""
            select concat_ws('; ',
              (select 'progression ' || string_agg(name || '=' || coalesce(last_seq_id, -1), ', ' order by name) from ledger.mt_event_progression),
              (select 'head ' || max(seq_id) from ledger.mt_events),
              (select 'outgoing ' || count(*) from ledger.wolverine_outgoing_envelopes),
              (select 'incoming ' || string_agg(status || ' ' || n, ', ') from (select status, count(*) n from ledger.wolverine_incoming_envelopes group by status) s),
              (select 'dead letters ' || count(*) || ': ' || coalesce(string_agg(distinct exception_type || ' ' || left(exception_message, 300), ' | '), '') from ledger.wolverine_dead_letters))
            """);
        return (string)(await command.ExecuteScalarAsync(Ct))!;
    }

    private async Task<List<(Guid EventId, long Version, long Position, DateTimeOffset OccurredAt, DateTimeOffset RecordedAt)>> RecordedAsync(string serial)
    {
        await using var command = _db.CreateCommand("""
            select event_id, stream_version, position, occurred_at, recorded_at from ledger.events where stream_id = @s order by stream_version
            """);
        command.Parameters.AddWithValue("s", serial);
        var rows = new List<(Guid, long, long, DateTimeOffset, DateTimeOffset)>();
        await using var reader = await command.ExecuteReaderAsync(Ct);
        while (await reader.ReadAsync(Ct))
        {
            rows.Add((reader.GetGuid(0), reader.GetInt64(1), reader.GetInt64(2), reader.GetFieldValue<DateTimeOffset>(3), reader.GetFieldValue<DateTimeOffset>(4)));
        }

        return rows;
    }
}
