using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Ledger.Api.Access;
using Ledger.Dashboard.Tests.Support;
using Ledger.Testing;

namespace Ledger.Dashboard.Tests;

/// <summary>
/// /dashboard in headless Chromium against a ledger on a real socket, with eight months of Shanghai history posted
/// through the HTTP API as line systems would: every chart draws exactly the figures that history implies, a reporting
/// key is enough, wrong keys and an unreachable ledger say what to do, and nothing goes wrong in the console.
/// </summary>
public sealed class DashboardBrowserTests(DatabaseFixture database) : IClassFixture<DatabaseFixture>
{
    /// <summary>The ledger's "now": mid-October 2025, early in the morning UTC so the test never straddles a UTC midnight.</summary>
    private static readonly DateTimeOffset LedgerNow = new(2025, 10, 15, 4, 0, 0, TimeSpan.Zero);

    private static readonly JsonSerializerOptions Web = new(JsonSerializerDefaults.Web);
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_reporting_key_sees_every_chart_drawn_from_the_ledgers_history()
    {
        await BrowserCheck.AssertInstalledAsync(Ct);
        var clock = new ShiftedClock(LedgerNow);
        await using var host = new DashboardHost(database.ConnectionString, clock);
        var adminKey = await host.CreateKeyAsync(LedgerRole.Admin, "dashboard-test-admin");
        var reportingKey = await host.CreateKeyAsync(LedgerRole.Reporting, "dashboard-reporting");
        var lineKey = await host.CreateKeyAsync(LedgerRole.Line, "sha-mes-line1", "shanghai");
        var history = ShanghaiHistory.Generate(clock.GetUtcNow());
        var lastPosition = await PostAsync(host, adminKey, history);
        await WaitForProjectionsAsync(host, reportingKey, lastPosition);

        var screenshot = Path.Combine(AppContext.BaseDirectory, "screenshots", "dashboard.png");
        Directory.CreateDirectory(Path.GetDirectoryName(screenshot)!);
        var seen = await BrowserCheck.RunAsync(new Uri(host.BaseAddress, "/"), reportingKey, lineKey, screenshot, Ct);
        TestContext.Current.SendDiagnosticMessage($"Dashboard screenshot: {screenshot}");
        TestContext.Current.TestOutputHelper?.WriteLine($"Dashboard screenshot: {screenshot}");
        Assert.True(File.Exists(screenshot) && new FileInfo(screenshot).Length > 10_000, $"No screenshot at {screenshot}.");

        AssertErrorPaths(seen.GetProperty("errors"));
        var happy = seen.GetProperty("happy");
        AssertNothingWentWrong(happy);
        AssertKeyStaysInTheTab(happy, reportingKey);
        AssertCharts(happy, history, clock);
    }

    private static void AssertErrorPaths(JsonElement errors)
    {
        Assert.Equal("signed-out", errors.GetProperty("initialState").GetString());
        Assert.True(errors.GetProperty("formVisible").GetBoolean());
        Assert.Contains("Enter an API key", errors.GetProperty("emptyKey").GetString());

        Assert.Equal("error", errors.GetProperty("unknownKeyState").GetString());
        Assert.Contains("did not accept this key", errors.GetProperty("unknownKey").GetString());
        Assert.Equal(JsonValueKind.Null, errors.GetProperty("unknownKeyStored").ValueKind);
        Assert.True(errors.GetProperty("unknownKeyFormVisible").GetBoolean());

        Assert.Equal("error", errors.GetProperty("lineKeyState").GetString());
        Assert.Contains("may not read reports", errors.GetProperty("lineKey").GetString());
        Assert.Equal(JsonValueKind.Null, errors.GetProperty("lineKeyStored").ValueKind);

        Assert.Equal("error", errors.GetProperty("networkState").GetString());
        Assert.Contains("Could not reach the ledger", errors.GetProperty("network").GetString());

        Assert.Equal("ready", errors.GetProperty("partialState").GetString());
        var partial = errors.GetProperty("partial");
        var factories = partial.GetProperty("factories");
        Assert.Equal("No figures yet: production starts 2022-01-01.", factories.GetProperty("lathrop").GetProperty("facts").GetString());
        Assert.Equal(2, factories.GetProperty("shanghai").GetProperty("charts").GetInt32());
        Assert.StartsWith("Could not read deployments: An error occurred. (HTTP 500", partial.GetProperty("deployments").GetString(), StringComparison.Ordinal);
        Assert.StartsWith("Could not read units in transit", partial.GetProperty("inTransit").GetString(), StringComparison.Ordinal);
        Assert.Equal(["chart-milestones", "chart-projections", "chart-ramp-shanghai", "chart-run-rate-shanghai"],
            partial.GetProperty("drawn").EnumerateArray().Select(c => c.GetString()).Order());

        // The browser reports each refused or aborted request in the console; nothing else may appear there.
        var log = errors.GetProperty("log");
        Assert.Empty(log.GetProperty("pageErrors").EnumerateArray());
        Assert.All(log.GetProperty("console").EnumerateArray(), m => Assert.StartsWith("Failed to load resource", m.GetProperty("text").GetString()));
        Assert.Contains(log.GetProperty("errorResponses").EnumerateArray(), r => r.GetString()!.StartsWith("401 GET", StringComparison.Ordinal));
        Assert.Contains(log.GetProperty("errorResponses").EnumerateArray(), r => r.GetString()!.StartsWith("403 GET", StringComparison.Ordinal));
    }

    private static void AssertNothingWentWrong(JsonElement happy)
    {
        Assert.Equal("ready", happy.GetProperty("state").GetString());
        Assert.Equal(JsonValueKind.Null, happy.GetProperty("error").ValueKind);
        Assert.Equal("ready", happy.GetProperty("afterReload").GetString());
        Assert.Equal("ready", happy.GetProperty("dayState").GetString());
        var log = happy.GetProperty("log");
        foreach (var name in new[] { "console", "pageErrors", "failedRequests", "errorResponses" })
        {
            Assert.True(log.GetProperty(name).GetArrayLength() == 0, $"{name}: {log.GetProperty(name)}");
        }

        var texts = happy.GetProperty("texts");
        Assert.Equal("dashboard-reporting", texts.GetProperty("keyName").GetString());
        Assert.Equal("reporting", texts.GetProperty("keyRole").GetString());
        Assert.Empty(texts.GetProperty("unlabelledCharts").EnumerateArray());
    }

    private static void AssertKeyStaysInTheTab(JsonElement happy, string reportingKey)
    {
        Assert.DoesNotContain(reportingKey, happy.GetProperty("url").GetString(), StringComparison.Ordinal);
        Assert.Empty(happy.GetProperty("log").GetProperty("requestsWithKey").EnumerateArray());
        var storage = happy.GetProperty("storage");
        Assert.Equal(reportingKey, storage.GetProperty("session").GetString());
        Assert.Empty(storage.GetProperty("localKeys").EnumerateArray());
        Assert.Equal(string.Empty, storage.GetProperty("cookie").GetString());
    }

    private static void AssertCharts(JsonElement happy, ShanghaiHistory history, TimeProvider clock)
    {
        var units = history.Units;
        var today = DateOnly.FromDateTime(clock.GetUtcNow().UtcDateTime);
        var charts = happy.GetProperty("charts").EnumerateArray().ToDictionary(c => c.GetProperty("id").GetString()!);
        // Every chart on the page has drawn data: none is left without series.
        Assert.All(charts.Values, c => Assert.True(c.GetProperty("series").ValueKind == JsonValueKind.Array, $"{c.GetProperty("id")} drew nothing"));

        // The ramp: a bar per ISO week since the first unit, adding up to every unit built; the line ends at the total.
        var ramp = Series(charts["chart-ramp-shanghai"]);
        var bars = Values(ramp["Built per week"]);
        Assert.Equal(((Monday(today).DayNumber - Monday(ShanghaiHistory.ProductionStart).DayNumber) / 7) + 1, bars.Count);
        Assert.Equal(units.Count, bars.Sum());
        Assert.Equal(units.Count, Values(ramp["Cumulative built"])[^1]);

        // The run rate: the units built in the 30 days to today, times 365 / 30; one point per day since the first unit.
        var runRate = Values(Series(charts["chart-run-rate-shanghai"]).Single().Value);
        Assert.Equal(today.DayNumber - ShanghaiHistory.ProductionStart.DayNumber + 1, runRate.Count);
        var trailing = units.Count(u => u.BuiltOn > today.AddDays(-30) && u.BuiltOn <= today);
        Assert.Equal(trailing * 365m / 30m, runRate[^1], 2);

        // Milestones: Shanghai's 1st and 1,000th units on the days they were built.
        var milestones = Series(charts["chart-milestones"])["Megafactory Shanghai"].EnumerateArray()
            .Select(p => (Date: p.GetProperty("value")[0].GetString(), Nth: p.GetProperty("value")[1].GetInt32())).ToList();
        Assert.Equal([(Iso(units[0].BuiltOn), 1), (Iso(units[999].BuiltOn), 1000)], milestones);

        // Deployments (delivered, the page's default stage): units and GWh per region over all quarters.
        var delivered = units.Where(u => u.Delivered).ToList();
        var deployedUnits = Series(charts["chart-deployments-units"]);
        var deployedGwh = Series(charts["chart-deployments-gwh"]);
        foreach (var region in delivered.Select(u => u.Region!).Distinct())
        {
            Assert.Equal(delivered.Count(u => u.Region == region), Values(deployedUnits[region]).Sum());
            Assert.Equal(delivered.Where(u => u.Region == region).Sum(u => u.NameplateKwh) / 1_000_000m, Values(deployedGwh[region]).Sum(), 6);
        }

        Assert.Equal(delivered.Count, deployedUnits.Values.Sum(s => Values(s).Sum()));

        // In transit: shipped and not delivered (the scrapped unit never shipped), per region.
        var inTransit = units.Where(u => u.Shipped && !u.Delivered && !u.Scrapped).ToList();
        Assert.NotEmpty(inTransit);
        var transitBars = Series(charts["chart-in-transit"]).Single().Value.EnumerateArray().Select(p => p.GetProperty("value").GetInt32()).ToList();
        Assert.Equal(inTransit.Count, transitBars.Sum());
        Assert.Equal(inTransit.Select(u => u.Region).Distinct().Count(), transitBars.Count);

        // Projection health: the inline and the three asynchronous read models, all at the head of the feed.
        var positions = Series(charts["chart-projections"]).Single().Value.EnumerateArray().Select(p => p.GetProperty("value").GetInt64()).ToList();
        Assert.Equal(4, positions.Count);
        Assert.Single(positions.Distinct());

        var texts = happy.GetProperty("texts");
        var factories = texts.GetProperty("factories").EnumerateArray().ToDictionary(f => f.GetProperty("id").GetString()!);
        Assert.Equal(2, factories["shanghai"].GetProperty("charts").GetInt32());
        Assert.StartsWith($"{units.Count:N0} units built since 2025-02-11", factories["shanghai"].GetProperty("facts").GetString(), StringComparison.Ordinal);
        Assert.Equal(0, factories["lathrop"].GetProperty("charts").GetInt32());
        Assert.StartsWith("No units recorded yet", factories["lathrop"].GetProperty("facts").GetString(), StringComparison.Ordinal);
        Assert.Contains("Megafactory Waller County (under construction)", texts.GetProperty("notProducing").GetString(), StringComparison.Ordinal);
        Assert.StartsWith($"{inTransit.Count:N0} units", texts.GetProperty("transitTotal").GetString(), StringComparison.Ordinal);
        Assert.Equal("All 4 read models are up to date.", texts.GetProperty("healthSummary").GetString());

        // Per day: one bar per day since the first unit, adding up to every unit built.
        var daily = Values(Series(happy.GetProperty("dayCharts").EnumerateArray().Single())["Built per day"]);
        Assert.Equal(today.DayNumber - ShanghaiHistory.ProductionStart.DayNumber + 1, daily.Count);
        Assert.Equal(units.Count, daily.Sum());
    }

    /// <summary>Posts the history through <c>POST /api/v1/events</c> in batches of 1,000, in the order it happened.</summary>
    private static async Task<long> PostAsync(DashboardHost host, string adminKey, ShanghaiHistory history)
    {
        using var client = host.CreateSocketClient(adminKey);
        long position = 0;
        foreach (var batch in history.Events.Chunk(1000))
        {
            var body = new JsonObject { ["events"] = new JsonArray([.. batch.Select(e => (JsonNode)e.ToJson())]) };
            using var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/events")
            {
                Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json"),
            };
            request.Headers.Add("Idempotency-Key", Guid.NewGuid().ToString());
            using var response = await client.SendAsync(request, Ct);
            Assert.True(response.StatusCode == HttpStatusCode.Created, $"{response.StatusCode}: {await response.Content.ReadAsStringAsync(Ct)}");
            position = (await response.Content.ReadFromJsonAsync<JsonElement>(Web, Ct)).GetProperty("position").GetInt64();
        }

        return position;
    }

    /// <summary>Waits (up to three minutes) until every read model has applied the last event posted.</summary>
    private static async Task WaitForProjectionsAsync(DashboardHost host, string reportingKey, long lastPosition)
    {
        using var client = host.CreateSocketClient(reportingKey);
        var deadline = DateTime.UtcNow.AddMinutes(3);
        JsonElement health;
        do
        {
            health = await client.GetFromJsonAsync<JsonElement>("/api/v1/projections/health", Web, Ct);
            if (health.GetProperty("projections").EnumerateArray().All(p => p.GetProperty("position").GetInt64() >= lastPosition))
            {
                return;
            }

            await Task.Delay(250, Ct);
        }
        while (DateTime.UtcNow < deadline);

        Assert.Fail($"The read models did not reach position {lastPosition} in three minutes: {health}");
    }

    private static Dictionary<string, JsonElement> Series(JsonElement chart) =>
        chart.GetProperty("series").EnumerateArray().ToDictionary(s => s.GetProperty("name").GetString()!, s => s.GetProperty("data"));

    /// <summary>The y values of a series: plain numbers, <c>[x, y]</c> pairs, or <c>{ value }</c> items.</summary>
    private static List<decimal> Values(JsonElement data) => [.. data.EnumerateArray().Select(p => p.ValueKind switch
    {
        JsonValueKind.Number => p.GetDecimal(),
        JsonValueKind.Array => p[1].GetDecimal(),
        _ => p.GetProperty("value").GetDecimal(),
    })];

    private static DateOnly Monday(DateOnly day) => day.AddDays(-(((int)day.DayOfWeek + 6) % 7));

    private static string Iso(DateOnly day) => day.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture);
}
