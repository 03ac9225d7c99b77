using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Ledger.Api.Access;
using Ledger.Api.Tests.Support;
using Ledger.Api.Tests.WritePath;
using Ledger.Testing;
using static Ledger.Api.Tests.WritePath.RecordUnitEventsTests;

namespace Ledger.Api.Tests.ReadPath;

/// <summary><c>GET /api/v1/units/{serial}</c> and <c>GET /api/v1/units</c>: the inline read model and time travel.</summary>
public sealed class UnitStatusTests(DatabaseFixture database) : IClassFixture<DatabaseFixture>, IAsyncLifetime
{
    private readonly LedgerApiFactory _api = new(database.ConnectionString);
    private HttpClient _lathrop = null!;
    private HttpClient _shanghai = null!;
    private HttpClient _reporting = null!;
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        _lathrop = _api.CreateClient(await _api.CreateKeyAsync(LedgerRole.Line, "lathrop"));
        _shanghai = _api.CreateClient(await _api.CreateKeyAsync(LedgerRole.Line, "shanghai"));
        _reporting = _api.CreateClient(await _api.CreateKeyAsync(LedgerRole.Reporting));
    }

    public async ValueTask DisposeAsync()
    {
        _lathrop.Dispose();
        _shanghai.Dispose();
        _reporting.Dispose();
        await _api.DisposeAsync();
    }

    [Fact]
    public async Task A_unit_reads_back_as_its_events_left_it_and_the_read_reflects_the_write()
    {
        var serial = LineEvents.NewSerial();
        using var write = await _lathrop.SendAsync(LineEvents.Post($"/api/v1/units/{serial}/events",
            new JsonArray(LineEvents.Built(), LineEvents.Tested(), LineEvents.Shipped("AU"))), Ct);
        var written = await write.BodyAsync();

        using var read = await _reporting.GetAsync(new Uri($"/api/v1/units/{serial.ToLowerInvariant()}", UriKind.Relative), Ct);

        Assert.Equal(HttpStatusCode.OK, read.StatusCode);
        Assert.Equal("\"3\"", read.Headers.ETag?.Tag);
        Assert.Equal(written.GetProperty("position").GetInt64().ToString(System.Globalization.CultureInfo.InvariantCulture),
            Assert.Single(read.Headers.GetValues("X-Ledger-Position")));
        var unit = await read.BodyAsync();
        Assert.Equal("in-transit", unit.GetProperty("state").GetString());
        Assert.Equal("lathrop", unit.GetProperty("factoryId").GetString());
        Assert.Equal(3916m, unit.GetProperty("nameplateKwh").GetDecimal());
        Assert.Equal("passed", unit.GetProperty("latestTest").GetProperty("result").GetString());
        Assert.Equal("Australia", unit.GetProperty("destination").GetProperty("region").GetString());
        Assert.Equal("AU", unit.GetProperty("destination").GetProperty("country").GetString());
        Assert.Equal(3, unit.GetProperty("version").GetInt64());
    }

    [Fact]
    public async Task A_unit_reads_as_of_a_moment_or_a_version_of_its_history()
    {
        var serial = LineEvents.NewSerial();
        using var write = await _lathrop.SendAsync(LineEvents.Post($"/api/v1/units/{serial}/events",
            new JsonArray(LineEvents.Built(), LineEvents.Tested(passed: false), LineEvents.Envelope("UnitScrapped", LineEvents.Day.AddDays(2), null,
                new JsonObject { ["reason"] = "Enclosure crushed during loading" }))), Ct);
        Assert.Equal(HttpStatusCode.Created, write.StatusCode);
        var afterTest = Uri.EscapeDataString(LineEvents.Day.AddHours(3).ToString("O"));

        var now = await GetAsync($"/api/v1/units/{serial}");
        var asOf = await GetAsync($"/api/v1/units/{serial}?asOf={afterTest}");
        var v1 = await GetAsync($"/api/v1/units/{serial}?version=1");
        using var before = await _reporting.GetAsync(new Uri($"/api/v1/units/{serial}?asOf=2020-01-01T00:00:00Z", UriKind.Relative), Ct);

        Assert.Equal("scrapped", now.GetProperty("state").GetString());
        Assert.Equal("failed", asOf.GetProperty("state").GetString());
        Assert.Equal(2, asOf.GetProperty("version").GetInt64());
        Assert.Equal("built", v1.GetProperty("state").GetString());
        await AssertProblemAsync(before, HttpStatusCode.NotFound, "unit-not-found");
    }

    [Fact]
    public async Task An_unknown_unit_is_404()
    {
        using var response = await _reporting.GetAsync(new Uri($"/api/v1/units/{LineEvents.NewSerial()}", UriKind.Relative), Ct);

        await AssertProblemAsync(response, HttpStatusCode.NotFound, "unit-not-found");
    }

    [Fact]
    public async Task The_unit_list_filters_and_pages_through_every_match_once()
    {
        var prefix = "PG" + Guid.NewGuid().ToString("N")[..6].ToUpperInvariant();
        var shipped = new List<string>();
        for (var i = 0; i < 7; i++)
        {
            var serial = $"{prefix}-{i:D3}";
            var events = new JsonArray(LineEvents.Built("shanghai", LineEvents.Day), LineEvents.Tested());
            if (i % 2 == 0)
            {
                events.Add(LineEvents.Shipped("DE"));
                shipped.Add(serial);
            }

            using var response = await _shanghai.SendAsync(LineEvents.Post($"/api/v1/units/{serial}/events", events), Ct);
            Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        }

        var seen = new List<string>();
        string? cursor = null;
        do
        {
            using var response = await _reporting.GetAsync(new Uri($"/api/v1/units?factory=shanghai&country=de&region=Europe&state=in-transit&limit=2" + (cursor is null ? "" : $"&cursor={cursor}"), UriKind.Relative), Ct);
            Assert.True(long.Parse(Assert.Single(response.Headers.GetValues("X-Ledger-Position")), System.Globalization.CultureInfo.InvariantCulture) > 0);
            var page = await response.BodyAsync();
            var units = page.GetProperty("units").EnumerateArray().ToList();
            Assert.True(units.Count <= 2);
            seen.AddRange(units.Select(u => u.GetProperty("serial").GetString()!).Where(s => s.StartsWith(prefix, StringComparison.Ordinal)));
            cursor = page.GetProperty("next").ValueKind == JsonValueKind.Null ? null : page.GetProperty("next").GetString();
        }
        while (cursor is not null);

        Assert.Equal(shipped, seen);
    }

    [Theory]
    [InlineData("factory=atlantis", "factory")]
    [InlineData("state=lost", "state")]
    [InlineData("region=Mars", "region")]
    [InlineData("country=XX", "country")]
    [InlineData("from=2025-06-01&to=2025-01-01", "from")]
    [InlineData("limit=0", "limit")]
    [InlineData("limit=1001", "limit")]
    [InlineData("cursor=not-a-cursor!", "cursor")]
    public async Task Bad_query_parameters_are_400_naming_the_parameter(string query, string parameter)
    {
        using var response = await _reporting.GetAsync(new Uri($"/api/v1/units?{query}", UriKind.Relative), Ct);

        var problem = await AssertProblemAsync(response, HttpStatusCode.BadRequest, "validation-failed");
        Assert.True(problem.GetProperty("errors").TryGetProperty(parameter, out _), problem.ToString());
    }

    private async Task<JsonElement> GetAsync(string path)
    {
        using var response = await _reporting.GetAsync(new Uri(path, UriKind.Relative), Ct);
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{path}: {response.StatusCode} {await response.Content.ReadAsStringAsync(Ct)}");
        return await response.BodyAsync();
    }
}
