using System.Net;
using System.Text.Json.Nodes;
using Ledger.Api.Access;
using Ledger.Api.Tests.Support;
using Ledger.Testing;
using Npgsql;
using static Ledger.Api.Tests.WritePath.RecordUnitEventsTests;

namespace Ledger.Api.Tests.WritePath;

/// <summary><c>POST /api/v1/events</c>: many units, all or nothing.</summary>
public sealed class RecordBatchTests(DatabaseFixture database) : IClassFixture<DatabaseFixture>, IAsyncLifetime
{
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
    public async Task A_thousand_event_batch_across_five_hundred_units_is_recorded()
    {
        var serials = Enumerable.Range(0, 500).Select(_ => LineEvents.NewSerial("B")).ToArray();
        var batch = Batch(serials.SelectMany(s => new[] { LineEvents.Built().WithSerial(s), LineEvents.Tested().WithSerial(s) }));

        using var response = await _lathrop.SendAsync(LineEvents.Post("/api/v1/events", batch), Ct);

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var units = (await response.BodyAsync()).GetProperty("units").EnumerateArray().ToList();
        Assert.Equal(serials, units.Select(u => u.GetProperty("serial").GetString()));
        Assert.All(units, u => Assert.Equal(2, u.GetProperty("version").GetInt64()));
        Assert.Equal(1000, await CountAsync(serials));
    }

    [Fact]
    public async Task A_batch_with_one_invalid_event_stores_nothing_and_names_its_index()
    {
        var serials = Enumerable.Range(0, 300).Select(_ => LineEvents.NewSerial("B")).ToArray();
        var events = serials.Select(s => LineEvents.Built().WithSerial(s)).ToList();
        events[237]["data"]!["nameplateKwh"] = 0;

        using var response = await _lathrop.SendAsync(LineEvents.Post("/api/v1/events", Batch(events)), Ct);

        var problem = await AssertProblemAsync(response, HttpStatusCode.BadRequest, "validation-failed");
        Assert.Equal(["events[237].data.nameplateKwh"], problem.GetProperty("errors").EnumerateObject().Select(e => e.Name));
        Assert.Equal(0, await CountAsync(serials));
    }

    [Fact]
    public async Task A_batch_with_one_event_breaking_a_rule_stores_nothing_and_names_its_index()
    {
        var serials = Enumerable.Range(0, 50).Select(_ => LineEvents.NewSerial("B")).ToArray();
        var events = serials.Select(s => LineEvents.Built().WithSerial(s)).ToList();
        events.Insert(31, LineEvents.Shipped().WithSerial(serials[30]));

        using var response = await _lathrop.SendAsync(LineEvents.Post("/api/v1/events", Batch(events)), Ct);

        var problem = await AssertProblemAsync(response, HttpStatusCode.UnprocessableEntity, "rule-violation");
        Assert.Equal(31, problem.GetProperty("index").GetInt32());
        Assert.Equal(serials[30], problem.GetProperty("serial").GetString());
        Assert.Equal(0, await CountAsync(serials));
    }

    [Fact]
    public async Task A_batch_over_a_thousand_events_is_refused()
    {
        var events = Enumerable.Range(0, 1001).Select(_ => LineEvents.Built().WithSerial(LineEvents.NewSerial("B")));

        using var response = await _lathrop.SendAsync(LineEvents.Post("/api/v1/events", Batch(events)), Ct);

        var problem = await AssertProblemAsync(response, HttpStatusCode.BadRequest, "validation-failed");
        Assert.True(problem.GetProperty("errors").TryGetProperty("events", out _));
    }

    [Fact]
    public async Task A_line_key_cannot_slip_another_factorys_unit_into_a_batch()
    {
        using var shanghai = _api.CreateClient(await _api.CreateKeyAsync(LedgerRole.Line, "shanghai"));
        var mine = LineEvents.NewSerial("B");
        var theirs = LineEvents.NewSerial("B");

        using var response = await shanghai.SendAsync(LineEvents.Post("/api/v1/events",
            Batch([LineEvents.Built("shanghai", LineEvents.Day).WithSerial(mine), LineEvents.Built("lathrop").WithSerial(theirs)])), Ct);

        await AssertProblemAsync(response, HttpStatusCode.Forbidden, "wrong-factory");
        Assert.Equal(0, await CountAsync([mine, theirs]));
    }

    private static JsonObject Batch(IEnumerable<JsonObject> events) => new() { ["events"] = new JsonArray([.. events]) };

    private async Task<long> CountAsync(string[] serials)
    {
        await using var command = _db.CreateCommand("select count(*) from ledger.events where stream_id = any(@s)");
        command.Parameters.AddWithValue("s", serials);
        return (long)(await command.ExecuteScalarAsync(Ct))!;
    }
}
