using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Ledger.Api.Access;
using Ledger.Api.Tests.Support;
using Ledger.Testing;
using static Ledger.Api.Tests.WritePath.RecordUnitEventsTests;

namespace Ledger.Api.Tests.WritePath;

/// <summary>The factory registry: seeded from the domain's reference data, maintained by admins, consulted by the rules.</summary>
public sealed class FactoriesTests(DatabaseFixture database) : IClassFixture<DatabaseFixture>, IAsyncDisposable
{
    private readonly LedgerApiFactory _api = new(database.ConnectionString);
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task The_registry_starts_with_the_three_megafactories()
    {
        using var reporting = _api.CreateClient(await _api.CreateKeyAsync(LedgerRole.Reporting));

        var factories = await reporting.GetFromJsonAsync<JsonArray>(new Uri("/api/v1/factories", UriKind.Relative), Ct);

        var byId = factories!.ToDictionary(f => f!["id"]!.GetValue<string>());
        Assert.Superset(new HashSet<string> { "lathrop", "shanghai", "waller" }, byId.Keys.ToHashSet());
        Assert.Equal("producing", byId["shanghai"]!["status"]!.GetValue<string>());
        Assert.Equal("2025-02-11", byId["shanghai"]!["productionStarted"]!.GetValue<string>());
        Assert.Equal("Asia/Shanghai", byId["shanghai"]!["timeZone"]!.GetValue<string>());
        Assert.Equal(10_000, byId["lathrop"]!["nameplateUnitsPerYear"]!.GetValue<int>());
        Assert.Equal("under-construction", byId["waller"]!["status"]!.GetValue<string>());
    }

    [Fact]
    public async Task Waller_records_builds_once_an_admin_marks_it_producing()
    {
        // Its own database: this test changes the registry that the others read.
        await using var db = await database.CreateDatabaseAsync(Ct);
        await using var api = new LedgerApiFactory(db.ConnectionString);
        using var admin = api.CreateClient(await api.CreateKeyAsync(LedgerRole.Admin));
        using var waller = api.CreateClient(await api.CreateKeyAsync(LedgerRole.Line, "waller"));
        var serial = LineEvents.NewSerial("WAL");
        var built = LineEvents.Built("waller", new DateTimeOffset(2026, 10, 1, 9, 0, 0, TimeSpan.FromHours(-5)));

        using var before = await waller.SendAsync(LineEvents.Post($"/api/v1/units/{serial}/events", built), Ct);
        using var saved = await admin.SendAsync(LineEvents.Post("/api/v1/factories", new JsonObject
        {
            ["id"] = "waller", ["name"] = "Megafactory Waller County", ["location"] = "Waller County, Texas, USA", ["country"] = "US",
            ["timeZone"] = "America/Chicago", ["status"] = "producing", ["nameplateUnitsPerYear"] = 10000, ["productionStarted"] = "2026-09-01",
        }), Ct);
        using var after = await waller.SendAsync(LineEvents.Post($"/api/v1/units/{serial}/events", built), Ct);

        Assert.Equal("factory-not-producing", (await AssertProblemAsync(before, HttpStatusCode.UnprocessableEntity, "rule-violation")).GetProperty("code").GetString());
        Assert.Equal(HttpStatusCode.OK, saved.StatusCode);
        Assert.Equal(HttpStatusCode.Created, after.StatusCode);
    }

    [Fact]
    public async Task A_new_factory_is_201_and_an_invalid_one_is_400_naming_the_fields()
    {
        using var admin = _api.CreateClient(await _api.CreateKeyAsync(LedgerRole.Admin));

        using var created = await admin.SendAsync(LineEvents.Post("/api/v1/factories", new JsonObject
        {
            ["id"] = "berlin-storage", ["name"] = "Storage Berlin", ["location"] = "Grünheide, Germany", ["country"] = "de",
            ["timeZone"] = "Europe/Berlin", ["status"] = "planned",
        }), Ct);
        using var invalid = await admin.SendAsync(LineEvents.Post("/api/v1/factories", new JsonObject
        {
            ["id"] = "Bad Id", ["name"] = "x", ["location"] = "y", ["country"] = "XX", ["timeZone"] = "Mars/Olympus", ["status"] = "producing",
        }), Ct);

        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        Assert.Equal("DE", (await created.BodyAsync()).GetProperty("country").GetString());
        var errors = (await AssertProblemAsync(invalid, HttpStatusCode.BadRequest, "validation-failed")).GetProperty("errors");
        Assert.Equal(["country", "id", "productionStarted", "timeZone"], errors.EnumerateObject().Select(e => e.Name).Order());
    }

    public async ValueTask DisposeAsync() => await _api.DisposeAsync();
}
