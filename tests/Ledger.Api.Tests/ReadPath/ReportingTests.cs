using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Ledger.Api.Access;
using Ledger.Api.Tests.Support;
using Ledger.Api.Tests.WritePath;
using Ledger.Testing;
using static Ledger.Api.Tests.WritePath.RecordUnitEventsTests;

namespace Ledger.Api.Tests.ReadPath;

/// <summary>
/// Throughput, milestones, deployments and projection status over HTTP, fed by the node's own projection daemon.
/// Each test has a database of its own, so the figures it asserts are exactly its own events.
/// </summary>
public sealed class ReportingTests(DatabaseFixture database) : IClassFixture<DatabaseFixture>
{
    private static readonly DateTimeOffset Day = new(2025, 3, 10, 9, 0, 0, TimeSpan.FromHours(8));
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_read_with_the_writes_position_sees_the_write()
    {
        await using var db = await database.CreateDatabaseAsync(Ct);
        await using var api = new LedgerApiFactory(db.ConnectionString);
        using var line = api.CreateClient(await api.CreateKeyAsync(LedgerRole.Line, "shanghai"));
        using var reporting = api.CreateClient(await api.CreateKeyAsync(LedgerRole.Reporting));

        long position = 0;
        for (var i = 0; i < 3; i++)
        {
            using var write = await line.SendAsync(LineEvents.Post($"/api/v1/units/{LineEvents.NewSerial("SHA")}/events",
                new JsonArray(LineEvents.Built("shanghai", Day.AddMinutes(i)), LineEvents.Tested(at: Day.AddHours(1)), LineEvents.Shipped("AU", Day.AddDays(1)))), Ct);
            Assert.Equal(HttpStatusCode.Created, write.StatusCode);
            position = (await write.BodyAsync()).GetProperty("position").GetInt64();
        }

        using var throughput = await reporting.GetAsync(new Uri(
            $"/api/v1/factories/shanghai/throughput?from=2025-03-10&to=2025-03-11&bucket=day&minPosition={position}", UriKind.Relative), Ct);
        using var deployments = await reporting.GetAsync(new Uri(
            $"/api/v1/deployments?groupBy=country&bucket=month&from=2025-03-01&to=2025-03-31&minPosition={position}", UriKind.Relative), Ct);
        using var milestones = await reporting.GetAsync(new Uri($"/api/v1/factories/shanghai/milestones?minPosition={position}", UriKind.Relative), Ct);

        Assert.Equal(HttpStatusCode.OK, throughput.StatusCode);
        Assert.False(throughput.Headers.Contains("X-Ledger-Behind"));
        Assert.True(long.Parse(Assert.Single(throughput.Headers.GetValues("X-Ledger-Position")), System.Globalization.CultureInfo.InvariantCulture) >= position);
        var days = (await throughput.BodyAsync()).GetProperty("buckets").EnumerateArray().ToList();
        Assert.Equal(3, days.Single(d => d.GetProperty("bucketStart").GetString() == "2025-03-10").GetProperty("unitsBuilt").GetInt64());
        Assert.Equal(3, days.Single(d => d.GetProperty("bucketStart").GetString() == "2025-03-11").GetProperty("unitsShipped").GetInt64());

        var march = Assert.Single((await deployments.BodyAsync()).GetProperty("buckets").EnumerateArray());
        Assert.Equal("AU", march.GetProperty("country").GetString());
        Assert.Equal(3, march.GetProperty("unitsShipped").GetInt64());
        var inTransit = Assert.Single((await deployments.BodyAsync()).GetProperty("inTransit").EnumerateArray());
        Assert.Equal(3, inTransit.GetProperty("units").GetInt64());

        var first = Assert.Single((await milestones.BodyAsync()).GetProperty("units").EnumerateArray());
        Assert.Equal(1, first.GetProperty("nth").GetInt64());
        Assert.Equal("Australia", Assert.Single((await milestones.BodyAsync()).GetProperty("firstShipmentsByRegion").EnumerateArray()).GetProperty("region").GetString());
    }

    [Fact]
    public async Task Projection_status_shows_each_read_model_and_a_rebuild_ends_with_the_same_answers()
    {
        await using var db = await database.CreateDatabaseAsync(Ct);
        await using var api = new LedgerApiFactory(db.ConnectionString);
        using var line = api.CreateClient(await api.CreateKeyAsync(LedgerRole.Line, "lathrop"));
        using var admin = api.CreateClient(await api.CreateKeyAsync(LedgerRole.Admin));
        long position = 0;
        for (var i = 0; i < 5; i++)
        {
            using var write = await line.SendAsync(LineEvents.Post($"/api/v1/units/{LineEvents.NewSerial("LTH")}/events",
                new JsonArray(LineEvents.Built("lathrop", Day.AddMinutes(i)), LineEvents.Tested(at: Day.AddHours(1)))), Ct);
            position = (await write.BodyAsync()).GetProperty("position").GetInt64();
        }

        var throughputUri = new Uri($"/api/v1/factories/lathrop/throughput?from=2025-03-01&to=2025-03-31&bucket=month&minPosition={position}", UriKind.Relative);
        using var before = await admin.GetAsync(throughputUri, Ct);
        var beforeBody = (await before.BodyAsync()).GetProperty("buckets").ToString();

        using var rebuild = await admin.PostAsync(new Uri("/api/v1/projections/factory-throughput/rebuild", UriKind.Relative), null, Ct);
        Assert.Equal(HttpStatusCode.Accepted, rebuild.StatusCode);
        using var again = await admin.PostAsync(new Uri("/api/v1/projections/factory-throughput/rebuild", UriKind.Relative), null, Ct);
        using var unknown = await admin.PostAsync(new Uri("/api/v1/projections/no-such/rebuild", UriKind.Relative), null, Ct);
        await AssertProblemAsync(unknown, HttpStatusCode.NotFound, "not-found");

        // The rebuild finishes (the status says when) and the model answers exactly as before.
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        deadline.CancelAfter(TimeSpan.FromSeconds(60));
        JsonElement status;
        do
        {
            await Task.Delay(100, deadline.Token);
            using var list = await admin.GetAsync(new Uri("/api/v1/projections", UriKind.Relative), deadline.Token);
            status = (await list.BodyAsync()).EnumerateArray().Single(p => p.GetProperty("name").GetString() == "factory-throughput");
        }
        while (status.GetProperty("lastRebuildFinishedAt").ValueKind == JsonValueKind.Null);

        Assert.Equal("running", status.GetProperty("state").GetString());
        using var after = await admin.GetAsync(throughputUri, Ct);
        Assert.Equal(beforeBody, (await after.BodyAsync()).GetProperty("buckets").ToString());

        using var all = await admin.GetAsync(new Uri("/api/v1/projections", UriKind.Relative), Ct);
        Assert.Equal(["deployments", "factory-throughput", "milestones", "unit-status"],
            (await all.BodyAsync()).EnumerateArray().Select(p => p.GetProperty("name").GetString()).Order());
    }

    [Fact]
    public async Task The_inline_unit_status_rebuilds_over_http_and_units_read_the_same_afterwards()
    {
        await using var db = await database.CreateDatabaseAsync(Ct);
        await using var api = new LedgerApiFactory(db.ConnectionString);
        using var line = api.CreateClient(await api.CreateKeyAsync(LedgerRole.Line, "lathrop"));
        using var admin = api.CreateClient(await api.CreateKeyAsync(LedgerRole.Admin));
        var serial = LineEvents.NewSerial("LTH");
        using (var write = await line.SendAsync(LineEvents.Post($"/api/v1/units/{serial}/events",
            new JsonArray(LineEvents.Built("lathrop", Day), LineEvents.Tested(at: Day.AddHours(1)))), Ct))
        {
            Assert.Equal(HttpStatusCode.Created, write.StatusCode);
        }

        using var before = await admin.GetAsync(new Uri($"/api/v1/units/{serial}", UriKind.Relative), Ct);
        var beforeBody = (await before.BodyAsync()).ToString();

        using var rebuild = await admin.PostAsync(new Uri("/api/v1/projections/unit-status/rebuild", UriKind.Relative), null, Ct);
        Assert.Equal(HttpStatusCode.Accepted, rebuild.StatusCode);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        deadline.CancelAfter(TimeSpan.FromSeconds(60));
        JsonElement status;
        do
        {
            await Task.Delay(50, deadline.Token);
            using var list = await admin.GetAsync(new Uri("/api/v1/projections", UriKind.Relative), deadline.Token);
            status = (await list.BodyAsync()).EnumerateArray().Single(p => p.GetProperty("name").GetString() == "unit-status");
        }
        while (status.GetProperty("lastRebuildFinishedAt").ValueKind == JsonValueKind.Null);

        Assert.Equal(JsonValueKind.Null, status.GetProperty("failure").ValueKind);
        using var after = await admin.GetAsync(new Uri($"/api/v1/units/{serial}", UriKind.Relative), Ct);
        Assert.Equal(beforeBody, (await after.BodyAsync()).ToString());
    }

    [Theory]
    [InlineData("/api/v1/factories/shanghai/throughput?bucket=fortnight", "bucket")]
    [InlineData("/api/v1/factories/shanghai/throughput?from=2025-06-01&to=2025-01-01", "from")]
    [InlineData("/api/v1/factories/shanghai/throughput?from=June", "from")]
    [InlineData("/api/v1/factories/shanghai/throughput?minPosition=-3", "minPosition")]
    [InlineData("/api/v1/deployments?groupBy=planet", "groupBy")]
    [InlineData("/api/v1/deployments?bucket=day", "bucket")]
    [InlineData("/api/v1/deployments?region=Atlantis", "region")]
    public async Task Bad_report_parameters_are_400_naming_the_parameter(string path, string parameter)
    {
        await using var api = new LedgerApiFactory(database.ConnectionString);
        using var reporting = api.CreateClient(await api.CreateKeyAsync(LedgerRole.Reporting));

        using var response = await reporting.GetAsync(new Uri(path, UriKind.Relative), Ct);

        var problem = await AssertProblemAsync(response, HttpStatusCode.BadRequest, "validation-failed");
        Assert.True(problem.GetProperty("errors").TryGetProperty(parameter, out _), problem.ToString());
    }

    [Fact]
    public async Task An_unknown_factory_is_404()
    {
        await using var api = new LedgerApiFactory(database.ConnectionString);
        using var reporting = api.CreateClient(await api.CreateKeyAsync(LedgerRole.Reporting));

        using var response = await reporting.GetAsync(new Uri("/api/v1/factories/atlantis/throughput", UriKind.Relative), Ct);

        await AssertProblemAsync(response, HttpStatusCode.NotFound, "not-found");
    }
}
