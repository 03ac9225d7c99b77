using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Ledger.Api.Access;
using Ledger.Api.Tests.Support;
using Ledger.Testing;
using Npgsql;

namespace Ledger.Api.Tests.WritePath;

/// <summary><c>POST /api/v1/units/{serial}/events</c>: each answer a line system can get, and what it leaves stored.</summary>
public sealed class RecordUnitEventsTests(DatabaseFixture database) : IClassFixture<DatabaseFixture>, IAsyncLifetime
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
    public async Task Recording_a_build_answers_201_with_the_version_position_etag_and_location()
    {
        var serial = LineEvents.NewSerial();

        using var response = await _lathrop.SendAsync(LineEvents.Post($"/api/v1/units/{serial}/events", LineEvents.Built()), Ct);

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        Assert.Equal("\"1\"", response.Headers.ETag?.Tag);
        Assert.Equal($"/api/v1/units/{serial}", response.Headers.Location?.OriginalString);
        var body = await response.BodyAsync();
        Assert.Equal(serial, body.GetProperty("serial").GetString());
        Assert.Equal(1, body.GetProperty("version").GetInt64());
        var recorded = Assert.Single(body.GetProperty("events").EnumerateArray());
        Assert.Equal("UnitBuilt", recorded.GetProperty("type").GetString());
        Assert.Equal(body.GetProperty("position").GetInt64(), recorded.GetProperty("position").GetInt64());
        Assert.Equal(1, await CountAsync(serial));
    }

    [Fact]
    public async Task The_serial_is_case_normalised_and_the_actor_and_correlation_id_are_recorded()
    {
        var serial = LineEvents.NewSerial();
        var request = LineEvents.Post($"/api/v1/units/{serial.ToLowerInvariant()}/events", LineEvents.Built());
        request.Headers.Add("X-Correlation-Id", "mes-batch-42");

        using var response = await _lathrop.SendAsync(request, Ct);

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        await using var command = _db.CreateCommand("select metadata->>'actor', metadata->>'correlationId', type from ledger.events where stream_id = @s");
        command.Parameters.AddWithValue("s", serial);
        await using var reader = await command.ExecuteReaderAsync(Ct);
        Assert.True(await reader.ReadAsync(Ct));
        Assert.StartsWith("line-", reader.GetString(0), StringComparison.Ordinal);
        Assert.Equal("mes-batch-42", reader.GetString(1));
        Assert.Equal("unit-built.v1", reader.GetString(2));
    }

    [Fact]
    public async Task An_array_of_events_is_recorded_atomically_in_order()
    {
        var serial = LineEvents.NewSerial();

        using var response = await _lathrop.SendAsync(LineEvents.Post($"/api/v1/units/{serial}/events",
            new JsonArray(LineEvents.Built(), LineEvents.Tested(), LineEvents.Shipped("DE"))), Ct);

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var body = await response.BodyAsync();
        Assert.Equal(3, body.GetProperty("version").GetInt64());
        Assert.Equal(["UnitBuilt", "UnitTested", "UnitShipped"], body.GetProperty("events").EnumerateArray().Select(e => e.GetProperty("type").GetString()));
    }

    [Fact]
    public async Task Malformed_json_is_400_and_stores_nothing()
    {
        var serial = LineEvents.NewSerial();
        using var content = new StringContent("""{"type":"UnitBuilt","occurredAt":""", Encoding.UTF8, "application/json");

        using var response = await _lathrop.PostAsync(new Uri($"/api/v1/units/{serial}/events", UriKind.Relative), content, Ct);

        await AssertProblemAsync(response, HttpStatusCode.BadRequest, "malformed-json");
        Assert.Equal(0, await CountAsync(serial));
    }

    [Fact]
    public async Task Invalid_fields_are_400_naming_each_field()
    {
        var serial = LineEvents.NewSerial();
        var built = LineEvents.Built();
        built["data"]!["nameplateKwh"] = -5;
        built["data"]!["line"] = "";
        built["occurredAt"] = "yesterday";

        using var response = await _lathrop.SendAsync(LineEvents.Post($"/api/v1/units/{serial}/events", built), Ct);

        var problem = await AssertProblemAsync(response, HttpStatusCode.BadRequest, "validation-failed");
        var errors = problem.GetProperty("errors");
        Assert.True(errors.TryGetProperty("data.nameplateKwh", out _), errors.ToString());
        Assert.True(errors.TryGetProperty("data.line", out _), errors.ToString());
        Assert.True(errors.TryGetProperty("occurredAt", out _), errors.ToString());
        Assert.Equal(0, await CountAsync(serial));
    }

    [Fact]
    public async Task An_unknown_type_an_unknown_field_and_a_bad_serial_are_400()
    {
        var unknownType = LineEvents.Envelope("UnitPainted", LineEvents.Day, null, []);
        var unknownField = LineEvents.Built();
        unknownField["colour"] = "white";

        using var a = await _lathrop.SendAsync(LineEvents.Post($"/api/v1/units/{LineEvents.NewSerial()}/events", unknownType), Ct);
        using var b = await _lathrop.SendAsync(LineEvents.Post($"/api/v1/units/{LineEvents.NewSerial()}/events", unknownField), Ct);
        using var c = await _lathrop.SendAsync(LineEvents.Post("/api/v1/units/-BAD_SERIAL-/events", LineEvents.Built()), Ct);

        Assert.True((await AssertProblemAsync(a, HttpStatusCode.BadRequest, "validation-failed")).GetProperty("errors").TryGetProperty("type", out _));
        Assert.True((await AssertProblemAsync(b, HttpStatusCode.BadRequest, "validation-failed")).GetProperty("errors").TryGetProperty("colour", out _));
        Assert.True((await AssertProblemAsync(c, HttpStatusCode.BadRequest, "validation-failed")).GetProperty("errors").TryGetProperty("serial", out _));
    }

    [Fact]
    public async Task A_body_that_is_not_json_is_415()
    {
        using var content = new StringContent("type=UnitBuilt", Encoding.UTF8, "application/x-www-form-urlencoded");

        using var response = await _lathrop.PostAsync(new Uri($"/api/v1/units/{LineEvents.NewSerial()}/events", UriKind.Relative), content, Ct);

        await AssertProblemAsync(response, HttpStatusCode.UnsupportedMediaType, "unsupported-media-type");
    }

    [Fact]
    public async Task A_body_over_the_limit_is_413()
    {
        var built = LineEvents.Built();
        built["data"]!["model"] = new string('x', 1_100_000);

        using var response = await _lathrop.SendAsync(LineEvents.Post($"/api/v1/units/{LineEvents.NewSerial()}/events", built), Ct);

        await AssertProblemAsync(response, HttpStatusCode.RequestEntityTooLarge, "payload-too-large");
    }

    [Fact]
    public async Task An_event_for_a_unit_that_was_never_built_is_404()
    {
        var serial = LineEvents.NewSerial();

        using var response = await _lathrop.SendAsync(LineEvents.Post($"/api/v1/units/{serial}/events", LineEvents.Tested()), Ct);

        await AssertProblemAsync(response, HttpStatusCode.NotFound, "unit-not-found");
    }

    [Fact]
    public async Task Shipping_an_untested_unit_is_422_with_the_rule_code_and_stores_nothing()
    {
        var serial = await BuildAsync();

        using var response = await _lathrop.SendAsync(LineEvents.Post($"/api/v1/units/{serial}/events", LineEvents.Shipped()), Ct);

        var problem = await AssertProblemAsync(response, HttpStatusCode.UnprocessableEntity, "rule-violation");
        Assert.Equal("test-not-passed", problem.GetProperty("code").GetString());
        Assert.Equal(0, problem.GetProperty("index").GetInt32());
        Assert.Equal(1, await CountAsync(serial));
    }

    [Fact]
    public async Task A_rule_broken_by_the_second_event_of_an_array_names_its_index_and_stores_none()
    {
        var serial = LineEvents.NewSerial();

        using var response = await _lathrop.SendAsync(LineEvents.Post($"/api/v1/units/{serial}/events",
            new JsonArray(LineEvents.Built(), LineEvents.Shipped())), Ct);

        var problem = await AssertProblemAsync(response, HttpStatusCode.UnprocessableEntity, "rule-violation");
        Assert.Equal(1, problem.GetProperty("index").GetInt32());
        Assert.Equal(0, await CountAsync(serial));
    }

    [Fact]
    public async Task If_match_with_the_current_version_appends_and_a_stale_one_is_412()
    {
        var serial = await BuildAsync();

        using var stale = await _lathrop.SendAsync(LineEvents.Post($"/api/v1/units/{serial}/events", LineEvents.Tested(), ifMatch: "\"0\""), Ct);
        using var current = await _lathrop.SendAsync(LineEvents.Post($"/api/v1/units/{serial}/events", LineEvents.Tested(), ifMatch: "\"1\""), Ct);

        var problem = await AssertProblemAsync(stale, HttpStatusCode.PreconditionFailed, "precondition-failed");
        Assert.Equal(1, problem.GetProperty("actualVersion").GetInt64());
        Assert.Equal(HttpStatusCode.Created, current.StatusCode);
        Assert.Equal("\"2\"", current.Headers.ETag?.Tag);
    }

    [Fact]
    public async Task Two_writers_racing_with_the_same_if_match_one_wins_and_the_other_gets_412()
    {
        for (var round = 0; round < 10; round++)
        {
            var serial = await BuildAsync();

            var responses = await Task.WhenAll(Enumerable.Range(0, 2).Select(_ =>
                _lathrop.SendAsync(LineEvents.Post($"/api/v1/units/{serial}/events", LineEvents.Tested(), ifMatch: "\"1\""), Ct)));

            Assert.Equal([HttpStatusCode.Created, HttpStatusCode.PreconditionFailed], responses.Select(r => r.StatusCode).Order());
            Assert.Equal(2, await CountAsync(serial));
            foreach (var r in responses) r.Dispose();
        }
    }

    [Fact]
    public async Task A_reporting_key_may_not_post_events()
    {
        using var reporting = _api.CreateClient(await _api.CreateKeyAsync(LedgerRole.Reporting));

        using var response = await reporting.SendAsync(LineEvents.Post($"/api/v1/units/{LineEvents.NewSerial()}/events", LineEvents.Built()), Ct);

        await AssertProblemAsync(response, HttpStatusCode.Forbidden, "forbidden");
    }

    [Fact]
    public async Task A_line_key_of_one_factory_is_refused_on_another_factorys_unit()
    {
        var serial = await BuildAsync();
        using var shanghai = _api.CreateClient(await _api.CreateKeyAsync(LedgerRole.Line, "shanghai"));

        using var onUnit = await shanghai.SendAsync(LineEvents.Post($"/api/v1/units/{serial}/events", LineEvents.Tested()), Ct);
        using var building = await shanghai.SendAsync(LineEvents.Post($"/api/v1/units/{LineEvents.NewSerial()}/events", LineEvents.Built("lathrop")), Ct);

        await AssertProblemAsync(onUnit, HttpStatusCode.Forbidden, "wrong-factory");
        await AssertProblemAsync(building, HttpStatusCode.Forbidden, "wrong-factory");
        Assert.Equal(1, await CountAsync(serial));
    }

    [Fact]
    public async Task The_same_event_id_sent_again_returns_the_original_answer_and_stores_it_once()
    {
        var serial = LineEvents.NewSerial();
        var built = LineEvents.Built(id: Guid.CreateVersion7());

        using var first = await _lathrop.SendAsync(LineEvents.Post($"/api/v1/units/{serial}/events", built), Ct);
        using var again = await _lathrop.SendAsync(LineEvents.Post($"/api/v1/units/{serial}/events", built), Ct);

        Assert.Equal(HttpStatusCode.Created, again.StatusCode);
        Assert.Equal((await first.BodyAsync()).ToString(), (await again.BodyAsync()).ToString());
        Assert.Equal(1, await CountAsync(serial));
    }

    [Fact]
    public async Task The_same_event_id_with_different_data_is_422()
    {
        var serial = LineEvents.NewSerial();
        var id = Guid.CreateVersion7();
        using var first = await _lathrop.SendAsync(LineEvents.Post($"/api/v1/units/{serial}/events", LineEvents.Built(id: id)), Ct);
        var changed = LineEvents.Built(id: id);
        changed["data"]!["line"] = "L2";

        using var response = await _lathrop.SendAsync(LineEvents.Post($"/api/v1/units/{serial}/events", changed), Ct);

        await AssertProblemAsync(response, HttpStatusCode.UnprocessableEntity, "event-id-conflict");
        Assert.Equal(1, await CountAsync(serial));
    }

    private async Task<string> BuildAsync()
    {
        var serial = LineEvents.NewSerial();
        using var response = await _lathrop.SendAsync(LineEvents.Post($"/api/v1/units/{serial}/events", LineEvents.Built()), Ct);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return serial;
    }

    private async Task<long> CountAsync(string serial)
    {
        await using var command = _db.CreateCommand("select count(*) from ledger.events where stream_id = @s");
        command.Parameters.AddWithValue("s", serial);
        return (long)(await command.ExecuteScalarAsync(Ct))!;
    }

    internal static async Task<System.Text.Json.JsonElement> AssertProblemAsync(HttpResponseMessage response, HttpStatusCode status, string kind)
    {
        var body = await response.BodyAsync();
        Assert.True(status == response.StatusCode, $"expected {status}, got {response.StatusCode}: {body}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("https://ledger.example/problems/" + kind, body.GetProperty("type").GetString());
        Assert.Equal((int)status, body.GetProperty("status").GetInt32());
        Assert.True(body.TryGetProperty("correlationId", out _), "every problem carries the correlation id");
        return body;
    }
}
