using System.Net;
using System.Text.Json.Nodes;
using Ledger.Api.Access;
using Ledger.Api.Features.Integration.Milestones;
using Ledger.Api.Tests.Support;
using Ledger.Api.Tests.WritePath;
using Ledger.EventStore;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace Ledger.Api.Tests.Integration;

/// <summary>
/// One node of the service for the milestone tests: the API over a test database, with the milestone interval the test
/// chooses. <see cref="FactoryMilestoneReached"/> goes where every integration event goes without a broker: the durable
/// local queue whose handler keeps the journal, which <see cref="Deliveries"/> reads.
/// </summary>
internal sealed class MilestoneNode : IAsyncDisposable
{
    private readonly LedgerApiFactory _api;

    public MilestoneNode(string connectionString, long every, Deliveries deliveries)
    {
        ArgumentNullException.ThrowIfNull(deliveries);
        deliveries.Watch(connectionString);
        _api = new LedgerApiFactory(connectionString);
        Factory = _api.WithWebHostBuilder(builder => builder.ConfigureTestServices(services => services.AddSingleton(new MilestoneSettings(every))));
    }

    public WebApplicationFactory<Program> Factory { get; }

    /// <summary>This node's id, as its database sessions name it (<c>ledger-api/{id}</c>).</summary>
    public string NodeId => Factory.Services.GetRequiredService<ServiceDefaults.LedgerNode>().Id;

    public async Task<HttpClient> ClientAsync(LedgerRole role, string? factoryId = null)
    {
        var created = await Factory.Services.GetRequiredService<ApiKeyStore>()
            .CreateAsync($"{role.ToText()}-{Guid.NewGuid():N}", role, factoryId, TestContext.Current.CancellationToken);
        var client = Factory.CreateClient();
        client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", created.Key);
        return client;
    }

    public async ValueTask DisposeAsync() => await _api.DisposeAsync();
}

/// <summary>
/// Every FactoryMilestoneReached delivered to the journal (<c>ledger.integration_events</c>), one entry per delivery: the
/// journal keeps a message once by its id, which is the envelope's, and counts redeliveries.
/// </summary>
internal sealed class Deliveries
{
    private string? _connectionString;

    public void Watch(string connectionString) => _connectionString ??= connectionString;

    public async Task<List<FactoryMilestoneReached>> MessagesAsync() => [.. (await ReadAsync()).SelectMany(d => Enumerable.Repeat(d.Message, d.Count))];

    /// <summary>The envelope ids, which the message's own id must be (MessageIdFromBody), in order, once per delivery.</summary>
    public async Task<List<Guid>> EnvelopeIdsAsync() => [.. (await ReadAsync()).SelectMany(d => Enumerable.Repeat(d.Id, d.Count)).Order()];

    private async Task<List<(Guid Id, int Count, FactoryMilestoneReached Message)>> ReadAsync()
    {
        if (_connectionString is null) return [];
        await using var dataSource = NpgsqlDataSource.Create(_connectionString);
        await using var command = dataSource.CreateCommand(
            "select message_id, deliveries, body::text from ledger.integration_events where type = 'ledger.factory-milestone-reached.v1' order by seq");
        await using var reader = await command.ExecuteReaderAsync(TestContext.Current.CancellationToken);
        var rows = new List<(Guid, int, FactoryMilestoneReached)>();
        while (await reader.ReadAsync(TestContext.Current.CancellationToken))
        {
            rows.Add((reader.GetGuid(0), reader.GetInt32(1), System.Text.Json.JsonSerializer.Deserialize<FactoryMilestoneReached>(reader.GetString(2))!));
        }

        return rows;
    }
}

/// <summary>What the milestone tests post, read back and expect.</summary>
internal static class Milestones
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>A build as the ledger stored it.</summary>
    public sealed record StoredBuild(long Position, Guid EventId, string Serial, string FactoryId, DateTimeOffset OccurredAt, DateTimeOffset RecordedAt);

    /// <summary>A recorded announcement (ledger.integration_milestones).</summary>
    public sealed record Announced(
        string FactoryId, long Milestone, Guid? MessageId, string? Serial, DateTimeOffset? OccurredAt, Guid? EventId, DateTimeOffset? RecordedAt);

    /// <summary>Posts one UnitBuilt per time in <paramref name="occurredAts"/>, as one batch request; returns the serials.</summary>
    public static async Task<string[]> PostBuildsAsync(HttpClient line, string factoryId, IReadOnlyList<DateTimeOffset> occurredAts)
    {
        var serials = occurredAts.Select(_ => LineEvents.NewSerial(factoryId[..3].ToUpperInvariant())).ToArray();
        var events = new JsonArray([.. occurredAts.Select((at, i) => LineEvents.Built(factoryId, at).WithSerial(serials[i]))]);
        using var response = await line.SendAsync(LineEvents.Post("/api/v1/events", new JsonObject { ["events"] = events }), Ct);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return serials;
    }

    /// <summary>Every build in the ledger, in feed order.</summary>
    public static async Task<List<StoredBuild>> StoredBuildsAsync(NpgsqlDataSource dataSource)
    {
        await using var command = dataSource.CreateCommand(
            "select position, event_id, stream_id, data ->> 'factoryId', occurred_at, recorded_at from ledger.events " +
            "where type = 'unit-built.v1' order by position");
        await using var reader = await command.ExecuteReaderAsync(Ct);
        var builds = new List<StoredBuild>();
        while (await reader.ReadAsync(Ct))
        {
            builds.Add(new StoredBuild(reader.GetInt64(0), reader.GetGuid(1), reader.GetString(2), reader.GetString(3),
                reader.GetFieldValue<DateTimeOffset>(4), reader.GetFieldValue<DateTimeOffset>(5)));
        }

        return builds;
    }

    /// <summary>
    /// The announcements the builds call for, worked out here from the stored builds alone: the build that takes a factory
    /// to n (feed order) and the unit ranked nth by (occurredAt, position) among the builds up to it.
    /// </summary>
    public static List<Announced> Expected(IEnumerable<StoredBuild> builds, long every, long firstMilestone = 0)
    {
        var expected = new List<Announced>();
        foreach (var factory in builds.GroupBy(b => b.FactoryId).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            var inFeedOrder = factory.OrderBy(b => b.Position).ToList();
            for (var n = every; n <= inFeedOrder.Count; n += every)
            {
                if (n < firstMilestone) continue;
                var reaching = inFeedOrder[(int)n - 1];
                var ranked = inFeedOrder.Take((int)n).OrderBy(b => b.OccurredAt).ThenBy(b => b.Position).ElementAt((int)n - 1);
                expected.Add(new Announced(factory.Key, n, FactoryMilestoneReached.IdOf(factory.Key, n), ranked.Serial, ranked.OccurredAt,
                    reaching.EventId, reaching.RecordedAt));
            }
        }

        return expected;
    }

    /// <summary>The messages <paramref name="announced"/> stand for, as a consumer receives them.</summary>
    public static List<FactoryMilestoneReached> AsMessages(IEnumerable<Announced> announced) =>
        [.. announced.Select(a => new FactoryMilestoneReached(a.FactoryId, a.Milestone, a.Serial!, a.OccurredAt!.Value, a.RecordedAt!.Value, a.EventId!.Value))];

    /// <summary>What <paramref name="deliveries"/> received, ordered like <see cref="Expected"/>.</summary>
    public static async Task<List<FactoryMilestoneReached>> ReceivedAsync(Deliveries deliveries) =>
        [.. (await deliveries.MessagesAsync()).OrderBy(m => m.FactoryId, StringComparer.Ordinal).ThenBy(m => m.Milestone)];

    /// <summary>The announcements recorded, by factory and milestone.</summary>
    public static async Task<List<Announced>> AnnouncedAsync(NpgsqlDataSource dataSource)
    {
        await using var command = dataSource.CreateCommand(
            "select factory_id, milestone, message_id, serial, unit_occurred_at, reached_event_id, reached_recorded_at " +
            "from ledger.integration_milestones order by factory_id collate \"C\", milestone");
        await using var reader = await command.ExecuteReaderAsync(Ct);
        var rows = new List<Announced>();
        while (await reader.ReadAsync(Ct))
        {
            rows.Add(new Announced(reader.GetString(0), reader.GetInt64(1),
                reader.IsDBNull(2) ? null : reader.GetGuid(2), reader.IsDBNull(3) ? null : reader.GetString(3),
                reader.IsDBNull(4) ? null : reader.GetFieldValue<DateTimeOffset>(4), reader.IsDBNull(5) ? null : reader.GetGuid(5),
                reader.IsDBNull(6) ? null : reader.GetFieldValue<DateTimeOffset>(6)));
        }

        return rows;
    }

    /// <summary>Where the subscription stands: its progression in Marten's daemon.</summary>
    public static async Task<long> ProgressionAsync(NpgsqlDataSource dataSource)
    {
        await using var command = dataSource.CreateCommand("select coalesce((select last_seq_id from ledger.mt_event_progression where name = @shard), 0)");
        command.Parameters.AddWithValue("shard", MartenSetup.ShardName(MilestoneSubscription.Name));
        return (long)(await command.ExecuteScalarAsync(Ct))!;
    }

    /// <summary>
    /// Waits until the subscription has passed <paramref name="position"/> and the probe queue has delivered
    /// <paramref name="messages"/> messages (or more: the caller's assertions then say which), then a little longer, so a
    /// message published twice would have time to show.
    /// </summary>
    public static async Task SettleAsync(NpgsqlDataSource dataSource, Deliveries deliveries, long position, int messages, TimeSpan? timeout = null)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        deadline.CancelAfter(timeout ?? TimeSpan.FromMinutes(3));
        try
        {
            while (await ProgressionAsync(dataSource) < position || (await deliveries.MessagesAsync()).Count < messages)
                await Task.Delay(200, deadline.Token);
        }
        catch (OperationCanceledException) when (!Ct.IsCancellationRequested)
        {
            Assert.Fail($"The subscription stands at {await ProgressionAsync(dataSource)} (waiting for {position}); " +
                        $"{(await deliveries.MessagesAsync()).Count} of {messages} messages delivered.");
        }

        await Task.Delay(TimeSpan.FromSeconds(2), Ct);
    }
}
