using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using System.Text.Json.Nodes;
using Ledger.Api.Access;
using Ledger.Api.Tests.Support;
using Ledger.Api.Tests.WritePath;
using Ledger.Testing;
using static Ledger.Api.Tests.WritePath.RecordUnitEventsTests;

namespace Ledger.Api.Tests.ReadPath;

/// <summary>Auditors replay history: a unit's events with who recorded them, and the global feed page by page or streamed.</summary>
public sealed class HistoryTests(DatabaseFixture database) : IClassFixture<DatabaseFixture>
{
    private static readonly DateTimeOffset Day = new(2025, 4, 1, 9, 0, 0, TimeSpan.FromHours(8));
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_units_history_shows_each_event_with_its_actor_correlation_position_and_hash()
    {
        await using var api = new LedgerApiFactory(database.ConnectionString);
        using var line = api.CreateClient(await api.CreateKeyAsync(LedgerRole.Line, "shanghai", name: "sha-eol-" + Guid.NewGuid().ToString("N")[..6]));
        using var auditor = api.CreateClient(await api.CreateKeyAsync(LedgerRole.Auditor));
        var serial = LineEvents.NewSerial("SHA");
        var post = LineEvents.Post($"/api/v1/units/{serial}/events", new JsonArray(LineEvents.Built("shanghai", Day), LineEvents.Tested(at: Day.AddHours(1))));
        post.Headers.Add("X-Correlation-Id", "mes-7");
        using (var write = await line.SendAsync(post, Ct)) Assert.Equal(HttpStatusCode.Created, write.StatusCode);

        using var response = await auditor.GetAsync(new Uri($"/api/v1/units/{serial}/events", UriKind.Relative), Ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var history = await response.BodyAsync();
        var events = history.GetProperty("events").EnumerateArray().ToList();
        Assert.Equal(["UnitBuilt", "UnitTested"], events.Select(e => e.GetProperty("type").GetString()));
        Assert.Equal([1L, 2L], events.Select(e => e.GetProperty("version").GetInt64()));
        Assert.All(events, e =>
        {
            Assert.StartsWith("sha-eol-", e.GetProperty("actor").GetString(), StringComparison.Ordinal);
            Assert.Equal("mes-7", e.GetProperty("correlationId").GetString());
            Assert.Equal(64, e.GetProperty("hash").GetString()!.Length);
        });
        Assert.Equal("shanghai", events[0].GetProperty("data").GetProperty("factoryId").GetString());
        Assert.Equal(Day.ToUniversalTime(), events[0].GetProperty("occurredAt").GetDateTimeOffset());
        Assert.True(events[0].GetProperty("position").GetInt64() < events[1].GetProperty("position").GetInt64());
        using var missing = await auditor.GetAsync(new Uri($"/api/v1/units/{LineEvents.NewSerial()}/events", UriKind.Relative), Ct);
        await AssertProblemAsync(missing, HttpStatusCode.NotFound, "unit-not-found");
    }

    [Fact]
    public async Task The_feed_pages_through_every_event_once_in_position_order_and_streams_the_same_as_ndjson()
    {
        await using var db = await database.CreateDatabaseAsync(Ct);
        await using var api = new LedgerApiFactory(db.ConnectionString);
        using var lathrop = api.CreateClient(await api.CreateKeyAsync(LedgerRole.Line, "lathrop"));
        using var shanghai = api.CreateClient(await api.CreateKeyAsync(LedgerRole.Line, "shanghai"));
        using var auditor = api.CreateClient(await api.CreateKeyAsync(LedgerRole.Auditor));
        for (var i = 0; i < 4; i++)
        {
            using var a = await lathrop.SendAsync(LineEvents.Post($"/api/v1/units/{LineEvents.NewSerial("LTH")}/events", new JsonArray(LineEvents.Built("lathrop", Day), LineEvents.Tested(at: Day.AddHours(1)))), Ct);
            using var b = await shanghai.SendAsync(LineEvents.Post($"/api/v1/units/{LineEvents.NewSerial("SHA")}/events", LineEvents.Built("shanghai", Day)), Ct);
        }

        var paged = await ReadAllPagesAsync(auditor, "limit=3", expected: 12);
        var streamed = await ReadNdJsonAsync(auditor, "/api/v1/events");
        var onlyTests = await ReadAllPagesAsync(auditor, "type=UnitTested&limit=2", expected: 4);
        var onlyShanghai = await ReadAllPagesAsync(auditor, "factory=shanghai", expected: 4);

        Assert.Equal(12, paged.Select(e => e.GetProperty("eventId").GetString()).Distinct().Count());
        Assert.True(paged.Zip(paged.Skip(1)).All(p => p.First.GetProperty("position").GetInt64() < p.Second.GetProperty("position").GetInt64()));
        Assert.Equal(paged.Select(e => e.GetProperty("eventId").GetString()), streamed.Select(e => e.GetProperty("eventId").GetString()));
        Assert.All(onlyTests, e => Assert.Equal("UnitTested", e.GetProperty("type").GetString()));
        Assert.All(onlyShanghai, e => Assert.StartsWith("SHA", e.GetProperty("serial").GetString(), StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("after=not-a-cursor", "after")]
    [InlineData("limit=0", "limit")]
    [InlineData("limit=5001", "limit")]
    [InlineData("type=UnitPainted", "type")]
    [InlineData("factory=atlantis", "factory")]
    public async Task Bad_feed_parameters_are_400_naming_the_parameter(string query, string parameter)
    {
        await using var api = new LedgerApiFactory(database.ConnectionString);
        using var auditor = api.CreateClient(await api.CreateKeyAsync(LedgerRole.Auditor));

        using var response = await auditor.GetAsync(new Uri($"/api/v1/events?{query}", UriKind.Relative), Ct);

        var problem = await AssertProblemAsync(response, HttpStatusCode.BadRequest, "validation-failed");
        Assert.True(problem.GetProperty("errors").TryGetProperty(parameter, out _), problem.ToString());
    }

    [Fact]
    public async Task A_cursor_the_previous_release_gave_out_is_400_naming_after_and_saying_what_to_do()
    {
        await using var api = new LedgerApiFactory(database.ConnectionString);
        using var auditor = api.CreateClient(await api.CreateKeyAsync(LedgerRole.Auditor));
        // What the own-store release gave out as `next`: base64url of "f:<transaction id>.<position>".
        var previousRelease = Opaque("f:759.82");

        using var response = await auditor.GetAsync(new Uri($"/api/v1/events?after={previousRelease}", UriKind.Relative), Ct);

        var problem = await AssertProblemAsync(response, HttpStatusCode.BadRequest, "validation-failed");
        var message = problem.GetProperty("errors").GetProperty("after")[0].GetString();
        Assert.Contains("previous release", message, StringComparison.Ordinal);
        Assert.Contains("from the start", message, StringComparison.Ordinal);
        using var garbage = await auditor.GetAsync(new Uri($"/api/v1/events?after={Opaque("f:x.y")}", UriKind.Relative), Ct);
        var garbageProblem = await AssertProblemAsync(garbage, HttpStatusCode.BadRequest, "validation-failed");
        Assert.Equal("Not a cursor the feed gave out.", garbageProblem.GetProperty("errors").GetProperty("after")[0].GetString());
    }

    [Fact]
    public async Task Next_is_the_last_events_cursor_and_resumes_right_after_it()
    {
        await using var db = await database.CreateDatabaseAsync(Ct);
        await using var api = new LedgerApiFactory(db.ConnectionString);
        using var line = api.CreateClient(await api.CreateKeyAsync(LedgerRole.Line, "lathrop"));
        using var auditor = api.CreateClient(await api.CreateKeyAsync(LedgerRole.Auditor));
        for (var i = 0; i < 3; i++)
        {
            using var write = await line.SendAsync(LineEvents.Post($"/api/v1/units/{LineEvents.NewSerial("LTH")}/events", LineEvents.Built("lathrop", Day)), Ct);
            Assert.Equal(HttpStatusCode.Created, write.StatusCode);
        }

        var all = await ReadAllPagesAsync(auditor, "limit=5", expected: 3);
        using var first = await auditor.GetAsync(new Uri("/api/v1/events?limit=1", UriKind.Relative), Ct);
        var next = (await first.BodyAsync()).GetProperty("next").GetString()!;
        using var rest = await auditor.GetAsync(new Uri($"/api/v1/events?after={next}", UriKind.Relative), Ct);

        Assert.Equal(next, all[0].GetProperty("cursor").GetString());
        Assert.Equal(all.Skip(1).Select(e => e.GetProperty("eventId").GetString()),
            (await rest.BodyAsync()).GetProperty("events").EnumerateArray().Select(e => e.GetProperty("eventId").GetString()));
    }

    private static string Opaque(string value) =>
        Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes(value)).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    /// <summary>Follows the cursor until the expected events have come (the feed's horizon may hold them back a moment).</summary>
    private static async Task<List<JsonElement>> ReadAllPagesAsync(HttpClient client, string query, int expected)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        deadline.CancelAfter(TimeSpan.FromSeconds(60));
        var all = new List<JsonElement>();
        string? after = null;
        while (all.Count < expected)
        {
            using var response = await client.GetAsync(new Uri($"/api/v1/events?{query}" + (after is null ? "" : $"&after={after}"), UriKind.Relative), deadline.Token);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var page = await response.BodyAsync();
            var events = page.GetProperty("events").EnumerateArray().ToList();
            all.AddRange(events);
            after = page.GetProperty("next").GetString();
            if (events.Count == 0) await Task.Delay(20, deadline.Token);
        }

        return all;
    }

    private static async Task<List<JsonElement>> ReadNdJsonAsync(HttpClient client, string path)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(path, UriKind.Relative));
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/x-ndjson"));
        using var response = await client.SendAsync(request, Ct);
        Assert.Equal("application/x-ndjson", response.Content.Headers.ContentType?.MediaType);
        var text = await response.Content.ReadAsStringAsync(Ct);
        return [.. text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(line => JsonDocument.Parse(line).RootElement.Clone())];
    }
}
