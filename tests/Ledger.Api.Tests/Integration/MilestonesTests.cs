using System.Net;
using System.Text.Json;
using Ledger.Api.Access;
using Ledger.Api.Features.Integration.Milestones;
using Ledger.Api.Tests.WritePath;
using Ledger.Testing;
using Microsoft.Extensions.DependencyInjection;
using static Ledger.Api.Tests.Integration.Milestones;

namespace Ledger.Api.Tests.Integration;

/// <summary>
/// FactoryMilestoneReached (issue 13; docs/integration-events-milestones.md): one message per factory and milestone, naming
/// the unit ranked at that position when it was reached, across many writers, read-model rebuilds, late builds and a
/// change of the node that runs the subscription. Milestones come every <c>n</c> builds here (a test-only setting; the
/// service's is 1,000), and every expected message is worked out from the stored builds by the test itself.
/// </summary>
public sealed class MilestonesTests(DatabaseFixture database) : IClassFixture<DatabaseFixture>
{
    private static readonly DateTimeOffset Day = new(2025, 6, 2, 8, 0, 0, TimeSpan.FromHours(8));
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Many_writers_over_several_factories_get_exactly_one_message_per_milestone_naming_the_ranked_unit()
    {
        const long every = 100;
        await using var db = await database.CreateDatabaseAsync(Ct);
        var deliveries = new Deliveries();
        await using var node = new MilestoneNode(db.ConnectionString, every, deliveries);
        string[] factories = ["lathrop", "shanghai"];
        var lines = new Dictionary<string, HttpClient>();
        foreach (var factory in factories) lines[factory] = await node.ClientAsync(LedgerRole.Line, factory);

        // Six writers, three per factory, 10 batches of 50 builds each: 3,000 builds, whose occurredAt order differs from
        // the order the ledger records them in (each writer's clock wanders over the same day).
        await Task.WhenAll(Enumerable.Range(0, 6).Select(writer => Task.Run(async () =>
        {
            var factory = factories[writer % factories.Length];
            var random = new Random(writer);
            for (var batch = 0; batch < 10; batch++)
            {
                await PostBuildsAsync(lines[factory], factory,
                    [.. Enumerable.Range(0, 50).Select(_ => Day.AddSeconds(random.Next(0, 86_400)))]);
            }
        }, Ct)));

        await using var data = db.CreateDataSource();
        var builds = await StoredBuildsAsync(data);
        Assert.Equal(3_000, builds.Count);
        var expected = Expected(builds, every);
        Assert.Equal(30, expected.Count);
        await SettleAsync(data, deliveries, builds[^1].Position, expected.Count);

        Assert.Equal(expected, await AnnouncedAsync(data));
        Assert.Equal(AsMessages(expected), await ReceivedAsync(deliveries));
        Assert.Equal(expected.Select(e => e.MessageId!.Value).Order(), await deliveries.EnvelopeIdsAsync());
        // The ranking matters here: some milestone's unit is not the build that reached it.
        Assert.Contains(expected, e => builds.Single(b => b.EventId == e.EventId).Serial != e.Serial);
        foreach (var line in lines.Values) line.Dispose();
    }

    [Fact]
    public async Task A_build_recorded_late_with_an_earlier_occurredAt_reaches_the_milestone_once_and_later_ones_change_nothing()
    {
        const long every = 5;
        await using var db = await database.CreateDatabaseAsync(Ct);
        var deliveries = new Deliveries();
        await using var node = new MilestoneNode(db.ConnectionString, every, deliveries);
        using var line = await node.ClientAsync(LedgerRole.Line, "shanghai");
        await using var data = db.CreateDataSource();

        // Four builds an hour apart, then a fifth recorded last but built before all of them: it takes the factory to 5,
        // and the unit ranked 5th is the last of the four.
        var first = await PostBuildsAsync(line, "shanghai", [.. Enumerable.Range(1, 4).Select(h => Day.AddHours(h))]);
        await SettleAsync(data, deliveries, (await StoredBuildsAsync(data))[^1].Position, 0);
        Assert.Empty(await deliveries.MessagesAsync());
        var late = await PostBuildsAsync(line, "shanghai", [Day]);
        var builds = await StoredBuildsAsync(data);
        await SettleAsync(data, deliveries, builds[^1].Position, 1);

        var announced = Assert.Single(await AnnouncedAsync(data));
        Assert.Equal(first[3], announced.Serial);
        Assert.Equal(Day.AddHours(4), announced.OccurredAt);
        Assert.Equal(builds.Single(b => b.Serial == late[0]).EventId, announced.EventId);
        Assert.Equal(Expected(builds, every), [announced]);
        Assert.Equal(AsMessages([announced]), await ReceivedAsync(deliveries));

        // Two more builds from even earlier: the read model's 5th unit moves, the milestone was announced and stays so.
        await PostBuildsAsync(line, "shanghai", [Day.AddHours(-2), Day.AddHours(-1)]);
        builds = await StoredBuildsAsync(data);
        await SettleAsync(data, deliveries, builds[^1].Position, 1);
        Assert.Equal([FactoryMilestoneReached.IdOf("shanghai", 5)], await deliveries.EnvelopeIdsAsync());
        Assert.Equal([announced], await AnnouncedAsync(data));
        // Ranked today, the 5th unit is another one (what the milestones read model now shows); the message stays as sent.
        Assert.Equal(first[1], builds.OrderBy(b => b.OccurredAt).ThenBy(b => b.Position).ElementAt(4).Serial);
    }

    [Fact]
    public async Task A_rebuild_of_the_milestones_read_model_publishes_nothing_again()
    {
        const long every = 50;
        await using var db = await database.CreateDatabaseAsync(Ct);
        var deliveries = new Deliveries();
        await using var node = new MilestoneNode(db.ConnectionString, every, deliveries);
        using var line = await node.ClientAsync(LedgerRole.Line, "lathrop");
        using var admin = await node.ClientAsync(LedgerRole.Admin);
        await using var data = db.CreateDataSource();
        await PostBuildsAsync(line, "lathrop", [.. Enumerable.Range(0, 120).Select(i => Day.AddMinutes(i))]);
        var builds = await StoredBuildsAsync(data);
        await SettleAsync(data, deliveries, builds[^1].Position, 2);
        var before = await AnnouncedAsync(data);
        Assert.Equal(Expected(builds, every), before);
        var position = await ProgressionAsync(data);

        // The subscription is not a read model: the operators' levers do not reach it.
        using var refused = await admin.PostAsync(new Uri($"/api/v1/projections/{MilestoneSubscription.Name}/rebuild", UriKind.Relative), null, Ct);
        Assert.Equal(HttpStatusCode.NotFound, refused.StatusCode);
        using var rebuild = await admin.PostAsync(new Uri("/api/v1/projections/milestones/rebuild", UriKind.Relative), null, Ct);
        Assert.Equal(HttpStatusCode.Accepted, rebuild.StatusCode);
        await WaitForRebuildAsync(admin, "milestones");

        await SettleAsync(data, deliveries, position, 2);
        Assert.Equal(position, await ProgressionAsync(data));
        Assert.Equal(before, await AnnouncedAsync(data));
        Assert.Equal(AsMessages(before), await ReceivedAsync(deliveries));

        // Still counting where it was: the next 30 builds make the 150th, announced once.
        await PostBuildsAsync(line, "lathrop", [.. Enumerable.Range(0, 30).Select(i => Day.AddHours(5).AddMinutes(i))]);
        builds = await StoredBuildsAsync(data);
        await SettleAsync(data, deliveries, builds[^1].Position, 3);
        var after = Expected(builds, every);
        Assert.Equal(3, after.Count);
        Assert.Equal(after, await AnnouncedAsync(data));
        Assert.Equal(AsMessages(after), await ReceivedAsync(deliveries));
        Assert.Equal(after.Select(a => a.MessageId!.Value).Order(), await deliveries.EnvelopeIdsAsync());
    }

    [Fact]
    public async Task The_service_announces_every_thousandth_unit()
    {
        await using var db = await database.CreateDatabaseAsync(Ct);
        await using var api = new Support.LedgerApiFactory(db.ConnectionString);
        Assert.Equal(1000, api.Services.GetRequiredService<MilestoneSettings>().Every);
    }

    [Fact]
    public void The_message_id_is_a_name_based_uuid_of_factory_and_milestone()
    {
        var id = FactoryMilestoneReached.IdOf("shanghai", 1000);
        // Pinned: consumers deduplicate by it, so it never changes (docs/integration-events-milestones.md shows it).
        Assert.Equal(new Guid("d61811ef-a26f-50a9-9c96-88e7befad451"), id);
        Assert.Equal(id, new FactoryMilestoneReached("shanghai", 1000, "SHA-1", Day, Day, Guid.NewGuid()).MessageId);
        Assert.Equal(5, id.Version);
        Assert.NotEqual(id, FactoryMilestoneReached.IdOf("shanghai", 2000));
        Assert.NotEqual(id, FactoryMilestoneReached.IdOf("lathrop", 1000));
        // RFC 9562's own example of a version 5 UUID (appendix A.4): "www.example.com" in the DNS namespace.
        Assert.Equal(new Guid("2ed6657d-e927-568b-95e1-2665a8aea6a2"),
            FactoryMilestoneReached.NameBased(new Guid("6ba7b810-9dad-11d1-80b4-00c04fd430c8"), "www.example.com"));
    }

    [Fact]
    public void The_message_carries_the_documented_fields()
    {
        var message = new FactoryMilestoneReached("shanghai", 1000, "SHA-2025-001000", Day, Day.AddSeconds(2), Guid.CreateVersion7());
        using var json = JsonDocument.Parse(JsonSerializer.Serialize(message));
        Assert.Equal(["eventId", "factoryId", "messageId", "milestone", "occurredAt", "recordedAt", "serial"],
            json.RootElement.EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal));
        Assert.Equal(message, JsonSerializer.Deserialize<FactoryMilestoneReached>(json.RootElement.GetRawText()));
    }

    internal static async Task WaitForRebuildAsync(HttpClient admin, string name)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        deadline.CancelAfter(TimeSpan.FromSeconds(90));
        JsonElement status;
        do
        {
            await Task.Delay(100, deadline.Token);
            using var list = await admin.GetAsync(new Uri("/api/v1/projections", UriKind.Relative), deadline.Token);
            status = (await list.BodyAsync()).EnumerateArray().Single(p => p.GetProperty("name").GetString() == name);
        }
        while (status.GetProperty("lastRebuildFinishedAt").ValueKind == JsonValueKind.Null);
        Assert.Equal("running", status.GetProperty("state").GetString());
    }
}
