using System.Net.Http.Headers;
using System.Text.Json;
using System.Text.Json.Serialization;
using Ledger.Api.Access;
using Ledger.Api.Tests.Support;
using Ledger.Client.Tests.Support;
using Ledger.Production.Units;
using Ledger.Testing;

namespace Ledger.Client.Tests;

/// <summary>
/// Reporting services and auditors read every read model and the feed through the client. The class records a small
/// history of its own (Shanghai units in March 2025, whole lives to Australia and Europe) in its own database. Every
/// test posts it again, with the same event ids: the ledger answers the repeats with the original receipt and stores the
/// history once, so each test reads exactly these units.
/// </summary>
public sealed class ReadingTests(DatabaseFixture database) : IClassFixture<DatabaseFixture>, IAsyncLifetime
{
    private static readonly Destination Pillswood = new("GB", "Pillswood, East Yorkshire");
    private readonly LedgerApiFactory _api = new(database.ConnectionString);
    private LedgerClient _auditor = null!;
    private long _position;
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static string Serial(int n) => $"SHA-READ-{n:D4}";

    public async ValueTask InitializeAsync()
    {
        var line = await _api.ClientAsync(LedgerRole.Line);
        _auditor = await _api.ClientAsync(LedgerRole.Auditor);
        // Twelve units built on 2025-03-10 and 11 (local): ten to commissioning in Australia, one shipped to Great Britain
        // and still in transit, one built and failed.
        var events = new List<UnitEventToRecord>();
        for (var n = 1; n <= 10; n++)
        {
            var built = Lines.Day.AddHours(n);
            events.AddRange(Lines.WholeLife(built).Select(e => e.For(Serial(n))));
        }

        events.AddRange([Lines.Built(Lines.Day.AddDays(1)).For(Serial(11)), Lines.Tested(at: Lines.Day.AddDays(1).AddHours(2)).For(Serial(11)),
            Lines.Shipped(Pillswood, Lines.Day.AddDays(2), "SHP-SHA-2025-00002").For(Serial(11))]);
        events.AddRange([Lines.Built(Lines.Day.AddDays(1).AddHours(1)).For(Serial(12)), Lines.Tested(passed: false, at: Lines.Day.AddDays(1).AddHours(3)).For(Serial(12))]);
        var ids = events.Select((e, i) => e with { EventId = new Guid($"0193a5e4-0000-7000-8000-{i:D12}") }).ToList();
        _position = (await line.RecordBatchAsync(ids, cancellationToken: Ct)).Position;
    }

    public async ValueTask DisposeAsync() => await _api.DisposeAsync();

    [Fact]
    public async Task A_units_status_reads_now_as_of_a_moment_and_at_a_version()
    {
        var now = await _auditor.GetUnitAsync(Serial(1), Ct);
        var inTransit = await _auditor.GetUnitAsOfAsync(Serial(1), Lines.Day.AddDays(5), Ct);
        var built = await _auditor.GetUnitAtVersionAsync(Serial(1), 1, Ct);

        Assert.Equal(("commissioned", 5L, "Collie Battery, Western Australia"), (now!.State, now.Version, now.Site));
        Assert.Equal(new UnitDestination("AU", "Australia", "Collie Battery, Western Australia"), now.Destination);
        Assert.Equal(("passed", 3921.5m, 0.92m), (now.LatestTest!.Result, now.LatestTest.MeasuredKwh, now.LatestTest.RoundTripEfficiency));
        Assert.Equal(("in-transit", 3L), (inTransit!.State, inTransit.Version));
        Assert.Equal(("built", 1L, (DateTimeOffset?)Lines.Day.AddHours(1)), (built!.State, built.Version, built.BuiltAt));
    }

    [Fact]
    public async Task Listing_units_follows_the_cursor_page_after_page()
    {
        var units = await _auditor.ListUnitsAsync(new UnitQuery { FactoryId = "shanghai", PageSize = 5 }, Ct).ToListAsync(Ct);
        var inTransit = await _auditor.ListUnitsAsync(new UnitQuery { State = "in-transit", Region = "Europe", Country = "gb" }, Ct).ToListAsync(Ct);
        var firstPage = await _auditor.GetUnitPageAsync(new UnitQuery { PageSize = 5 }, cancellationToken: Ct);

        Assert.Equal(Enumerable.Range(1, 12).Select(Serial), units.Select(u => u.Serial));
        Assert.Equal([Serial(11)], inTransit.Select(u => u.Serial));
        Assert.Equal(5, firstPage.Units.Count);
        Assert.NotNull(firstPage.Next);
    }

    [Fact]
    public async Task A_units_history_says_who_recorded_each_event_and_chains_its_hashes()
    {
        var history = await _auditor.GetUnitHistoryAsync(Serial(1), Ct);

        Assert.Equal(5, history!.Version);
        Assert.Equal(["UnitBuilt", "UnitTested", "UnitShipped", "UnitDelivered", "UnitCommissioned"], history.Events.Select(e => e.Type));
        Assert.Equal(["unit-built.v1", "unit-tested.v1", "unit-shipped.v1", "unit-delivered.v1", "unit-commissioned.v1"], history.Events.Select(e => e.StoredType));
        Assert.All(history.Events, e => Assert.StartsWith("line-", e.Actor, StringComparison.Ordinal));
        Assert.All(history.Events, e => Assert.Matches("^[0-9a-f]{64}$", e.Hash));
        Assert.Equal(history.Events.Count, history.Events.Select(e => e.Hash).Distinct().Count());
        Assert.Equal(new UnitCommissioned("Collie Battery, Western Australia"), history.Events[4].ToOccurredEvent()!.Event);
    }

    [Fact]
    public async Task Throughput_milestones_and_deployments_read_what_was_recorded_once_the_read_models_reach_it()
    {
        var throughput = await _auditor.GetThroughputAsync("shanghai", new ThroughputQuery { From = new(2025, 3, 10), To = new(2025, 3, 11), Bucket = "day", MinPosition = _position }, Ct);
        var milestones = await _auditor.GetMilestonesAsync("shanghai", _position, Ct);
        var deployments = await _auditor.GetDeploymentsAsync(new DeploymentsQuery { GroupBy = "country", Bucket = "month", From = new(2025, 3, 1), To = new(2025, 5, 31), MinPosition = _position }, Ct);

        Assert.All([throughput.Freshness, milestones.Freshness, deployments.Freshness], f => Assert.True(!f.Behind && f.Position >= _position, $"{f}"));
        Assert.Equal(("shanghai", "day", 10_000), (throughput.FactoryId, throughput.Bucket, throughput.NameplateUnitsPerYear));
        Assert.Equal([10L, 2L], throughput.Buckets.Select(b => b.UnitsBuilt));
        Assert.Equal([0L, 1L], throughput.Buckets.Select(b => b.TestsFailed));
        Assert.Equal(12, throughput.Buckets[^1].CumulativeUnitsBuilt);
        Assert.Equal(39.16m, throughput.Buckets[0].BuiltMwh);

        var first = Assert.Single(milestones.Units);
        Assert.Equal((1L, Serial(1), new DateOnly(2025, 3, 10)), (first.Nth, first.Serial, first.LocalDate));
        Assert.Equal(["Australia", "Europe"], milestones.FirstShipmentsByRegion.Select(s => s.Region).Order(StringComparer.Ordinal));

        var march = deployments.Buckets.Where(b => b.BucketStart == new DateOnly(2025, 3, 1)).ToDictionary(b => b.Country!);
        Assert.Equal((10L, 1L), (march["AU"].UnitsShipped, march["GB"].UnitsShipped));
        Assert.Equal(10, deployments.Buckets.Single(b => b.BucketStart == new DateOnly(2025, 5, 1)).UnitsCommissioned);
        var transit = Assert.Single(deployments.InTransit);
        Assert.Equal(("Europe", "GB", 1L, 3.916m), (transit.Region, transit.Country, transit.Units, transit.Mwh));
    }

    [Fact]
    public async Task Projections_factories_and_the_key_read_into_their_shapes()
    {
        var projections = await _auditor.GetProjectionsAsync(Ct);
        var factories = await _auditor.GetFactoriesAsync(Ct);
        var me = await _auditor.WhoAmIAsync(Ct);

        Assert.Equal("unit-status", projections[0].Name);
        Assert.Contains(projections, p => p.Name == "milestones" && p.State == "running");
        Assert.Equal(["lathrop", "shanghai", "waller"], factories.Select(f => f.Id));
        var shanghai = factories.Single(f => f.Id == "shanghai");
        Assert.Equal(("Asia/Shanghai", "producing", (DateOnly?)new DateOnly(2025, 2, 11)), (shanghai.TimeZone, shanghai.Status, shanghai.ProductionStarted));
        Assert.Equal(("auditor", (string?)null), (me.Role, me.FactoryId));
    }

    [Fact]
    public async Task The_feed_is_read_in_commit_order_across_many_pages()
    {
        var expected = new HashSet<string>(Enumerable.Range(1, 12).Select(Serial));
        var events = await ReadFeedUntilAsync(new FeedQuery { PageSize = 4 }, e => expected.Contains(e.Serial), 55);

        Assert.Equal(55, events.Count(e => expected.Contains(e.Serial)));
        Assert.Equal(events.Count, events.Select(e => e.EventId).Distinct().Count());
        Assert.True(events.Zip(events.Skip(1)).All(p => p.First.Position < p.Second.Position), "positions increase");
        foreach (var unit in events.GroupBy(e => e.Serial))
        {
            Assert.Equal(Enumerable.Range(1, unit.Count()).Select(v => (long)v), unit.Select(e => e.Version));
        }
    }

    [Fact]
    public async Task The_feed_narrows_to_types_and_a_factory_and_resumes_after_a_cursor()
    {
        var shipped = await ReadFeedUntilAsync(new FeedQuery { PageSize = 3, Types = ["UnitShipped", "UnitDelivered"], FactoryId = "shanghai" }, _ => true, 21);
        var afterFirstTen = await ReadFeedUntilAsync(new FeedQuery { After = shipped[9].Cursor, PageSize = 3, Types = ["UnitShipped", "UnitDelivered"] }, _ => true, 11);

        Assert.Equal(21, shipped.Count);
        Assert.All(shipped, e => Assert.Contains(e.Type, new[] { "UnitShipped", "UnitDelivered" }));
        Assert.Equal(shipped.Skip(10).Select(e => e.EventId), afterFirstTen.Select(e => e.EventId));
    }

    [Fact]
    public async Task The_client_types_hold_every_field_the_ledger_answers_with()
    {
        // A field the ledger adds that the client lacks would be dropped silently; read the raw answers strictly.
        using var http = _api.CreateClient();
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", await _api.CreateKeyAsync(LedgerRole.Auditor));
        var strict = new JsonSerializerOptions(JsonSerializerDefaults.Web) { UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow };
        async Task Strictly<T>(string path) => Assert.NotNull(JsonSerializer.Deserialize<T>(await http.GetStringAsync(new Uri(path, UriKind.Relative), Ct), strict));

        await Strictly<UnitStatus>($"/api/v1/units/{Serial(11)}");
        await Strictly<UnitPage>("/api/v1/units?limit=2");
        await Strictly<UnitHistory>($"/api/v1/units/{Serial(1)}/events");
        await Strictly<FeedPage>("/api/v1/events?limit=20");
        await Strictly<FactoryThroughput>($"/api/v1/factories/shanghai/throughput?from=2025-03-01&to=2025-03-31&minPosition={_position}");
        await Strictly<FactoryMilestones>($"/api/v1/factories/shanghai/milestones?minPosition={_position}");
        await Strictly<Deployments>($"/api/v1/deployments?groupBy=site&minPosition={_position}");
        await Strictly<List<ProjectionStatus>>("/api/v1/projections");
        await Strictly<List<ProjectionStatus>>("/api/v1/projections?include=subscriptions");
        await Strictly<List<FactoryInfo>>("/api/v1/factories");
        await Strictly<KeyIdentity>("/api/v1/whoami");
    }

    /// <summary>
    /// Reads the feed until <paramref name="count"/> matching events arrived. The feed shows an event only once every
    /// transaction that began before it has ended, in the whole cluster, so an enumeration can end before the last of
    /// ours: resume after the last event read, until a deadline.
    /// </summary>
    private async Task<List<FeedEvent>> ReadFeedUntilAsync(FeedQuery query, Func<FeedEvent, bool> matches, int count)
    {
        var events = new List<FeedEvent>();
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (events.Count(matches) < count && DateTime.UtcNow < deadline)
        {
            await foreach (var e in _auditor.ReadFeedAsync(query, Ct))
            {
                events.Add(e);
                query = query with { After = e.Cursor };
            }

            if (events.Count(matches) < count) await Task.Delay(50, Ct);
        }

        return events;
    }
}
