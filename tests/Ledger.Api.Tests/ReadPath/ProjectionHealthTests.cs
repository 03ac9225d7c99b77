using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Ledger.Api.Access;
using Ledger.Api.Tests.Support;
using Ledger.Api.Tests.WritePath;
using Ledger.Testing;

namespace Ledger.Api.Tests.ReadPath;

/// <summary>
/// <c>GET /api/v1/projections/health</c>: whether reports are current, for reporting keys (the dashboard's projection
/// health), without the operator's detail that <c>GET /api/v1/projections</c> keeps for auditors.
/// </summary>
public sealed class ProjectionHealthTests(DatabaseFixture database) : IClassFixture<DatabaseFixture>, IAsyncDisposable
{
    private static readonly DateTimeOffset Day = new(2025, 3, 12, 9, 0, 0, TimeSpan.FromHours(8));
    private readonly LedgerApiFactory api = new(database.ConnectionString);
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_reporting_key_sees_each_read_model_reach_the_head_of_the_feed()
    {
        using var line = api.CreateClient(await api.CreateKeyAsync(LedgerRole.Line, "shanghai"));
        using var reporting = api.CreateClient(await api.CreateKeyAsync(LedgerRole.Reporting));
        long position = 0;
        for (var i = 0; i < 3; i++)
        {
            using var write = await line.SendAsync(LineEvents.Post($"/api/v1/units/{LineEvents.NewSerial("SHA")}/events",
                new JsonArray(LineEvents.Built("shanghai", Day.AddMinutes(i)), LineEvents.Tested(at: Day.AddHours(1)))), Ct);
            Assert.Equal(HttpStatusCode.Created, write.StatusCode);
            position = (await write.BodyAsync()).GetProperty("position").GetInt64();
        }

        // The asynchronous read models catch up within the deadline; until then they show where they are.
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        deadline.CancelAfter(TimeSpan.FromSeconds(60));
        JsonElement health;
        do
        {
            using var response = await reporting.GetAsync(new Uri("/api/v1/projections/health", UriKind.Relative), deadline.Token);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            health = await response.BodyAsync();
            Assert.All(health.GetProperty("projections").EnumerateArray(),
                p => Assert.True(p.GetProperty("position").GetInt64() <= health.GetProperty("headPosition").GetInt64(), health.ToString()));
            if (health.GetProperty("projections").EnumerateArray().All(p => p.GetProperty("position").GetInt64() >= position)) break;
            await Task.Delay(100, deadline.Token);
        }
        while (true);

        Assert.True(health.GetProperty("headPosition").GetInt64() >= position);
        var projections = health.GetProperty("projections").EnumerateArray().ToList();
        Assert.Equal(["unit-status", "deployments", "factory-throughput", "milestones"], projections.Select(p => p.GetProperty("name").GetString()));
        Assert.All(projections, p =>
        {
            Assert.Equal("running", p.GetProperty("state").GetString());
            Assert.Equal(0, p.GetProperty("lagEvents").GetInt64());
            Assert.Equal(0, p.GetProperty("lagSeconds").GetDouble());
            Assert.False(p.GetProperty("rebuilding").GetBoolean());
            Assert.Equal(["lagEvents", "lagSeconds", "name", "position", "rebuilding", "state"], p.EnumerateObject().Select(f => f.Name).Order());
        });
    }

    [Fact]
    public async Task A_line_key_may_not_read_projection_health()
    {
        using var line = api.CreateClient(await api.CreateKeyAsync(LedgerRole.Line, "lathrop"));

        using var response = await line.GetAsync(new Uri("/api/v1/projections/health", UriKind.Relative), Ct);

        await RecordUnitEventsTests.AssertProblemAsync(response, HttpStatusCode.Forbidden, "forbidden");
    }

    public async ValueTask DisposeAsync() => await api.DisposeAsync();
}
