using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using Ledger.Api.Access;
using Ledger.Api.Http;
using Ledger.Api.Tests.Support;
using Ledger.Testing;
using Microsoft.AspNetCore.Http;
using Npgsql;
using static Ledger.Api.Tests.WritePath.RecordUnitEventsTests;

namespace Ledger.Api.Tests.WritePath;

/// <summary>
/// Bad input that the reliability suite's fuzzer (tests/Ledger.Reliability.Tests) or its probing turned into 5xx answers
/// or silent acceptance, each pinned here: a 4xx problem, and nothing stored.
/// </summary>
public sealed class FuzzerRegressionTests(DatabaseFixture database) : IClassFixture<DatabaseFixture>, IAsyncLifetime
{
    private readonly LedgerApiFactory _api = new(database.ConnectionString);
    private HttpClient _lathrop = null!;
    private HttpClient _admin = null!;
    private NpgsqlDataSource _db = null!;
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        _lathrop = _api.CreateClient(await _api.CreateKeyAsync(LedgerRole.Line, "lathrop"));
        _admin = _api.CreateClient(await _api.CreateKeyAsync(LedgerRole.Admin));
        _db = database.CreateDataSource();
    }

    public async ValueTask DisposeAsync()
    {
        _lathrop.Dispose();
        _admin.Dispose();
        await _api.DisposeAsync();
    }

    [Theory]
    [InlineData(new byte[] { 0xC3, 0x28 })]
    [InlineData(new byte[] { 0xFF })]
    [InlineData(new byte[] { 0xED, 0xA0, 0x80 })]
    public async Task A_body_that_is_not_utf8_is_malformed_json_not_a_server_error(byte[] invalid)
    {
        var serial = LineEvents.NewSerial();
        var json = Encoding.UTF8.GetBytes(LineEvents.Built().ToJsonString());
        // Inside the first property name, where the reader met it only when the name was read.
        byte[] body = [.. json[..2], .. invalid, .. json[2..]];

        using var response = await _lathrop.SendAsync(Raw($"/api/v1/units/{serial}/events", body), Ct);

        await AssertProblemAsync(response, HttpStatusCode.BadRequest, "malformed-json");
        Assert.Equal(0, await CountAsync(serial));
    }

    [Theory]
    [InlineData("""{"type":"Unit\ud835Built","occurredAt":"2025-03-03T08:00:00+08:00","data":{}}""")]
    [InlineData("""{"\ud835":1}""")]
    [InlineData("""{"eventId":"\udc00","type":"UnitBuilt","occurredAt":"2025-03-03T08:00:00+08:00","data":{}}""")]
    public async Task A_string_escape_that_is_a_lone_surrogate_is_malformed_json_not_a_server_error(string body)
    {
        var serial = LineEvents.NewSerial();

        using var response = await _lathrop.SendAsync(Raw($"/api/v1/units/{serial}/events", Encoding.UTF8.GetBytes(body)), Ct);

        await AssertProblemAsync(response, HttpStatusCode.BadRequest, "malformed-json");
        Assert.Equal(0, await CountAsync(serial));
    }

    [Fact]
    public async Task A_field_sent_twice_in_the_data_is_refused_rather_than_one_of_them_kept()
    {
        var serial = LineEvents.NewSerial();
        var body = LineEvents.Built().ToJsonString().Replace("\"nameplateKwh\":3916", "\"nameplateKwh\":1,\"nameplateKwh\":3916", StringComparison.Ordinal);

        using var response = await _lathrop.SendAsync(Raw($"/api/v1/units/{serial}/events", Encoding.UTF8.GetBytes(body)), Ct);

        var problem = await AssertProblemAsync(response, HttpStatusCode.BadRequest, "malformed-json");
        Assert.Contains("more than once", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Equal(0, await CountAsync(serial));
    }

    [Fact]
    public async Task A_batch_with_two_events_arrays_is_refused()
    {
        var serial = LineEvents.NewSerial();
        var body = $$"""{"events":[],"events":[{{LineEvents.Built().WithSerial(serial).ToJsonString()}}]}""";

        using var response = await _lathrop.SendAsync(Raw("/api/v1/events", Encoding.UTF8.GetBytes(body)), Ct);

        await AssertProblemAsync(response, HttpStatusCode.BadRequest, "malformed-json");
        Assert.Equal(0, await CountAsync(serial));
    }

    [Theory]
    [InlineData("nameplateKwh", "3916.0000000000000000000001")]
    [InlineData("nameplateKwh", "3916.0001")]
    [InlineData("nameplateKwh", "1.00000000000000000000000000001")]
    public async Task An_energy_given_finer_than_a_watt_hour_is_refused_so_report_sums_cannot_overflow(string field, string value)
    {
        var serial = LineEvents.NewSerial();
        var body = LineEvents.Built().ToJsonString().Replace("\"nameplateKwh\":3916", $"\"{field}\":{value}", StringComparison.Ordinal);

        using var response = await _lathrop.SendAsync(Raw($"/api/v1/units/{serial}/events", Encoding.UTF8.GetBytes(body)), Ct);

        var problem = await AssertProblemAsync(response, HttpStatusCode.BadRequest, "validation-failed");
        Assert.True(problem.GetProperty("errors").TryGetProperty("data." + field, out _), problem.ToString());
        Assert.Equal(0, await CountAsync(serial));
    }

    [Theory]
    [InlineData("country")]
    [InlineData("timeZone")]
    [InlineData("status")]
    public async Task A_factory_with_a_null_field_is_a_validation_problem_not_a_server_error(string field)
    {
        var factory = new JsonObject
        {
            ["id"] = "fz-null", ["name"] = "Fuzz", ["location"] = "Nowhere", ["country"] = "US", ["timeZone"] = "America/Chicago", ["status"] = "planned",
        };
        factory[field] = null;

        using var response = await _admin.PostAsync(new Uri("/api/v1/factories", UriKind.Relative), LineEvents.Json(factory), Ct);

        var problem = await AssertProblemAsync(response, HttpStatusCode.BadRequest, "validation-failed");
        Assert.True(problem.GetProperty("errors").TryGetProperty(field, out _), problem.ToString());
    }

    [Fact]
    public async Task A_serial_error_quotes_at_most_64_characters_of_what_was_sent()
    {
        var huge = new string('A', 200_000);

        using var response = await _lathrop.SendAsync(LineEvents.Post("/api/v1/events", new JsonObject
        {
            ["events"] = new JsonArray(LineEvents.Built().WithSerial(huge)),
        }), Ct);

        var problem = await AssertProblemAsync(response, HttpStatusCode.BadRequest, "validation-failed");
        var message = problem.GetProperty("errors").GetProperty("events[0].serial")[0].GetString()!;
        Assert.Contains(new string('A', 64) + "…", message, StringComparison.Ordinal);
        Assert.True(message.Length < 300, $"the message is {message.Length} characters long");
    }

    [Fact]
    public async Task An_error_is_problem_json_even_when_accept_leaves_json_out()
    {
        using var request = new HttpRequestMessage(HttpMethod.Delete, new Uri("/api/v1/events", UriKind.Relative));
        request.Headers.Accept.ParseAdd("application/x-ndjson");

        using var response = await _admin.SendAsync(request, Ct);

        var problem = await AssertProblemAsync(response, HttpStatusCode.MethodNotAllowed, "method-not-allowed");
        Assert.Equal("Method Not Allowed", problem.GetProperty("title").GetString());
    }

    [Theory]
    [InlineData("/api/v1/factories/lathrop/throughput?from=9999-12-31&to=9999-12-31&bucket=week", "from")]
    [InlineData("/api/v1/factories/lathrop/throughput?from=0001-01-01&to=0001-01-31&bucket=day", "from")]
    [InlineData("/api/v1/deployments?from=9999-12-01&to=9999-12-31", "to")]
    public async Task Report_dates_at_the_ends_of_the_calendar_are_refused(string path, string parameter)
    {
        // Before the fix these ran into the 30 s command timeout (a series to infinity) and answered 503.
        using var response = await _admin.GetAsync(new Uri(path, UriKind.Relative), Ct);

        var problem = await AssertProblemAsync(response, HttpStatusCode.BadRequest, "validation-failed");
        Assert.True(problem.GetProperty("errors").TryGetProperty(parameter, out _), problem.ToString());
    }

    [Fact]
    public async Task A_body_the_server_cannot_finish_reading_is_answered_with_its_status_as_a_problem()
    {
        // Kestrel reports a body shorter than its Content-Length, or broken chunking, by throwing from the body stream
        // (a bare IOException for a chunk size that overflows); the test host cannot send such framing, so the stream throws.
        foreach (var (thrown, status) in new (Exception, int)[]
        {
            (new BadHttpRequestException("Unexpected end of request content.", 400), 400),
            (new BadHttpRequestException("Reading the request body timed out due to data arriving too slowly.", 408), 408),
            (new IOException("Bad chunk size data.", new OverflowException()), 400),
        })
        {
            var context = new DefaultHttpContext();
            context.Request.ContentType = "application/json";
            context.Request.Body = new ThrowingStream(thrown);

            var (document, refusal) = await RequestBody.ReadJsonAsync(context, 1024);

            Assert.Null(document);
            Assert.Equal(status, refusal!.Status);
            Assert.Equal("application/problem+json", refusal.ContentType);
        }
    }

    [Fact]
    public async Task The_feed_filtered_by_a_factory_looks_units_up_a_page_at_a_time_not_one_query_each()
    {
        using var shanghai = _api.CreateClient(await _api.CreateKeyAsync(LedgerRole.Line, "shanghai"));
        using var auditor = _api.CreateClient(await _api.CreateKeyAsync(LedgerRole.Auditor));
        for (var batch = 0; batch < 2; batch++)
        {
            var events = new JsonArray([.. Enumerable.Range(0, 750).Select(_ => (JsonNode)LineEvents.Built().WithSerial(LineEvents.NewSerial("LTH")))]);
            using var response = await _lathrop.SendAsync(LineEvents.Post("/api/v1/events", new JsonObject { ["events"] = events }), Ct);
            Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        }

        var theirs = Enumerable.Range(0, 3).Select(_ => LineEvents.NewSerial("SHA")).ToList();
        foreach (var serial in theirs)
        {
            using var response = await shanghai.SendAsync(LineEvents.Post($"/api/v1/units/{serial}/events", LineEvents.Built("shanghai")), Ct);
            Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        }

        // The feed's horizon is cluster-wide: another test class's open transaction can hold these events back for a
        // moment. Wait until the feed shows them, so the measured read below sees the whole history.
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            using var probe = await auditor.GetAsync(new Uri("/api/v1/events?factory=shanghai&limit=5000", UriKind.Relative), Ct);
            var shown = (await probe.BodyAsync()).GetProperty("events").EnumerateArray().Select(e => e.GetProperty("serial").GetString()!).ToHashSet();
            if (theirs.All(shown.Contains)) break;
            Assert.True(DateTime.UtcNow < deadline, "the feed did not show the Shanghai units within a minute");
            await Task.Delay(100, Ct);
        }

        // Npgsql traces every command; count those that read unit_status in this class's database while the feed answers.
        var lookups = 0;
        using var listener = new System.Diagnostics.ActivityListener
        {
            ShouldListenTo = source => source.Name == "Npgsql",
            Sample = (ref System.Diagnostics.ActivityCreationOptions<System.Diagnostics.ActivityContext> _) => System.Diagnostics.ActivitySamplingResult.AllData,
            ActivityStopped = activity =>
            {
                if (activity.GetTagItem("db.namespace") as string == database.Name
                    && (activity.GetTagItem("db.query.text") as string)?.Contains("from ledger.unit_status", StringComparison.Ordinal) == true)
                {
                    Interlocked.Increment(ref lookups);
                }
            },
        };
        System.Diagnostics.ActivitySource.AddActivityListener(listener);
        using var feed = await auditor.GetAsync(new Uri("/api/v1/events?factory=shanghai&limit=5000", UriKind.Relative), Ct);
        listener.Dispose();

        Assert.Equal(HttpStatusCode.OK, feed.StatusCode);
        var found = (await feed.BodyAsync()).GetProperty("events").EnumerateArray().Select(e => e.GetProperty("serial").GetString()!).ToList();
        Assert.Superset(theirs.ToHashSet(), found.ToHashSet());
        Assert.All(found, s => Assert.StartsWith("SHA-", s, StringComparison.Ordinal));
        // Some 1,500 units: one lookup per page of 1,000 feed events, where there was one per unit.
        Assert.InRange(lookups, 1, 10);
    }

    private static HttpRequestMessage Raw(string path, byte[] body) => new(HttpMethod.Post, new Uri(path, UriKind.Relative))
    {
        Content = new ByteArrayContent(body) { Headers = { ContentType = new MediaTypeHeaderValue("application/json") } },
    };

    private async Task<long> CountAsync(string serial)
    {
        await using var command = _db.CreateCommand("select count(*) from ledger.events where stream_id = @s");
        command.Parameters.AddWithValue("s", serial);
        return (long)(await command.ExecuteScalarAsync(Ct))!;
    }

    private sealed class ThrowingStream(Exception exception) : Stream
    {
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => 0; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => throw exception;
        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => ValueTask.FromException<int>(exception);
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
