using System.Collections.Concurrent;
using System.Net;
using System.Text.Json.Nodes;
using Ledger.Api.Access;
using Ledger.Api.ServiceDefaults.Messaging;
using Ledger.Api.Tests.Support;
using Ledger.Api.Tests.WritePath;
using Ledger.Testing;
using RabbitMQ.Client;

namespace Ledger.Api.Tests.Integration;

/// <summary>
/// Integration events through a real RabbitMQ broker (issue 13): every recorded shipment, delivery and commissioning
/// reaches the exchange with its event id as message id; a refused request publishes nothing; a broker that stops or
/// dies during ingest loses nothing, and what was recorded meanwhile arrives after it returns. Each test runs its own
/// broker (they stop and kill it) and binds its own durable queue to the fanout exchange, as a consumer would.
/// </summary>
public sealed class RabbitMqDeliveryTests(DatabaseFixture database) : IClassFixture<DatabaseFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>How long the outbox may take to drain after the broker returns: a correctness bound, not a target.</summary>
    private static readonly TimeSpan DrainBound = TimeSpan.FromMinutes(4);

    [Fact]
    public async Task Every_shipment_delivery_and_commissioning_arrives_with_its_event_id_and_a_refused_request_publishes_nothing()
    {
        await using var broker = await RabbitMqBroker.StartNewAsync(Ct);
        await using var consumer = await QueueConsumer.BindAsync(broker.AmqpUri, Ct);
        await using var api = new LedgerApiFactory(database.ConnectionString, settings: new Dictionary<string, string?> { ["Ledger:RabbitMq"] = broker.AmqpUri.ToString() });
        using var line = api.CreateClient(await api.CreateKeyAsync(LedgerRole.Line, "lathrop"));

        var expected = new ConcurrentDictionary<Guid, byte>();
        for (var i = 0; i < 20; i++) await RecordLifeAsync(line, expected);

        // Refused: commissioning a unit that was never delivered (422), and a stale If-Match (412).
        var refused = LineEvents.NewSerial("R");
        await PostAsync(line, refused, new JsonArray(LineEvents.Built(), LineEvents.Tested()), HttpStatusCode.Created);
        await PostAsync(line, refused, Commissioned(), HttpStatusCode.UnprocessableEntity);
        await PostAsync(line, refused, LineEvents.Shipped(), HttpStatusCode.PreconditionFailed, ifMatch: "\"1\"");

        var received = await consumer.WaitForAsync(expected.Keys, DrainBound, Ct);
        Assert.Empty(expected.Keys.Except(received.Keys));
        Assert.All(expected.Keys, id => Assert.Equal(1, received[id]));
        Assert.DoesNotContain(await consumer.SerialsAsync(), s => s == refused);
    }

    [Theory]
    [InlineData("stop")]
    [InlineData("kill")]
    public async Task A_broker_that_goes_away_during_ingest_loses_nothing_and_everything_arrives_after_it_returns(string how)
    {
        await using var broker = await RabbitMqBroker.StartNewAsync(Ct);
        await using var consumer = await QueueConsumer.BindAsync(broker.AmqpUri, Ct);
        await using var api = new LedgerApiFactory(database.ConnectionString, settings: new Dictionary<string, string?> { ["Ledger:RabbitMq"] = broker.AmqpUri.ToString() });
        using var line = api.CreateClient(await api.CreateKeyAsync(LedgerRole.Line, "lathrop"));
        var expected = new ConcurrentDictionary<Guid, byte>();

        for (var i = 0; i < 10; i++) await RecordLifeAsync(line, expected);
        if (how == "kill") await broker.KillAsync(Ct);
        else await broker.StopAsync(Ct);

        // Ingest goes on while the broker is away: recording never waits for publishing.
        for (var i = 0; i < 10; i++) await RecordLifeAsync(line, expected);
        await broker.StartAsync(Ct);
        for (var i = 0; i < 10; i++) await RecordLifeAsync(line, expected);

        var received = await consumer.WaitForAsync(expected.Keys, DrainBound, Ct);
        Assert.Empty(expected.Keys.Except(received.Keys));
    }

    private static JsonObject Commissioned() =>
        LineEvents.Envelope("UnitCommissioned", LineEvents.Day.AddDays(30), null, new JsonObject { ["site"] = "Waratah Super Battery" });

    /// <summary>Builds, tests, ships, delivers and commissions a unit; the last three are expected downstream.</summary>
    private static async Task RecordLifeAsync(HttpClient line, ConcurrentDictionary<Guid, byte> expected)
    {
        var serial = LineEvents.NewSerial("Q");
        var ids = Enumerable.Range(0, 5).Select(_ => Guid.CreateVersion7()).ToArray();
        var events = new JsonArray(
            LineEvents.Built(id: ids[0]), LineEvents.Tested(id: ids[1]), WithId(LineEvents.Shipped("DE"), ids[2]),
            LineEvents.Envelope("UnitDelivered", LineEvents.Day.AddDays(20), ids[3], new JsonObject { ["site"] = "Waratah Super Battery" }),
            LineEvents.Envelope("UnitCommissioned", LineEvents.Day.AddDays(30), ids[4], new JsonObject { ["site"] = "Waratah Super Battery" }));
        await PostAsync(line, serial, events, HttpStatusCode.Created);
        foreach (var id in ids[2..]) expected[id] = 0;
    }

    private static JsonObject WithId(JsonObject envelope, Guid id)
    {
        envelope["eventId"] = id.ToString();
        return envelope;
    }

    private static async Task PostAsync(HttpClient line, string serial, JsonNode body, HttpStatusCode status, string? ifMatch = null)
    {
        using var response = await line.SendAsync(LineEvents.Post($"/api/v1/units/{serial}/events", body, ifMatch: ifMatch), Ct);
        Assert.Equal(status, response.StatusCode);
    }

    /// <summary>
    /// A consumer's durable queue bound to the exchange, drained with basic.get and reconnecting while the broker is
    /// away, counting deliveries by message id.
    /// </summary>
    private sealed class QueueConsumer : IAsyncDisposable
    {
        private readonly ConnectionFactory _factory;
        private readonly string _queue;
        private readonly ConcurrentDictionary<Guid, int> _received = new();
        private readonly ConcurrentBag<string> _serials = [];
        private IConnection? _connection;
        private IChannel? _channel;

        private QueueConsumer(Uri uri, string queue)
        {
            _factory = new ConnectionFactory { Uri = uri };
            _queue = queue;
        }

        public static async Task<QueueConsumer> BindAsync(Uri uri, CancellationToken cancellationToken)
        {
            var consumer = new QueueConsumer(uri, "test-consumer-" + Guid.NewGuid().ToString("N")[..8]);
            var channel = await consumer.ChannelAsync(cancellationToken);
            // The service declares the exchange when it starts; the consumer declares it too, so that the order does not matter.
            await channel.ExchangeDeclareAsync(IntegrationTransport.Exchange, ExchangeType.Fanout, durable: true, cancellationToken: cancellationToken);
            await channel.QueueDeclareAsync(consumer._queue, durable: true, exclusive: false, autoDelete: false, cancellationToken: cancellationToken);
            await channel.QueueBindAsync(consumer._queue, IntegrationTransport.Exchange, routingKey: string.Empty, cancellationToken: cancellationToken);
            return consumer;
        }

        public async Task<IReadOnlyDictionary<Guid, int>> WaitForAsync(ICollection<Guid> ids, TimeSpan within, CancellationToken cancellationToken)
        {
            var deadline = DateTime.UtcNow + within;
            while (ids.Any(id => !_received.ContainsKey(id)) && DateTime.UtcNow < deadline)
            {
                if (!await DrainAsync(cancellationToken)) await Task.Delay(200, cancellationToken);
            }

            // Whatever else is on its way (a duplicate would be), for a little longer.
            var settle = DateTime.UtcNow + TimeSpan.FromSeconds(2);
            while (DateTime.UtcNow < settle) await DrainAsync(cancellationToken);
            return _received;
        }

        public Task<IReadOnlyCollection<string>> SerialsAsync() => Task.FromResult<IReadOnlyCollection<string>>([.. _serials]);

        private async Task<bool> DrainAsync(CancellationToken cancellationToken)
        {
            try
            {
                var channel = await ChannelAsync(cancellationToken);
                var any = false;
                while (await channel.BasicGetAsync(_queue, autoAck: true, cancellationToken) is { } message)
                {
                    any = true;
                    _received.AddOrUpdate(Guid.Parse(message.BasicProperties.MessageId!), 1, (_, n) => n + 1);
                    var body = JsonNode.Parse(message.Body.Span);
                    if (body?["serial"]?.GetValue<string>() is { } serial) _serials.Add(serial);
                }

                return any;
            }
            catch (Exception e) when (e is RabbitMQ.Client.Exceptions.BrokerUnreachableException or RabbitMQ.Client.Exceptions.AlreadyClosedException
                                          or RabbitMQ.Client.Exceptions.OperationInterruptedException or IOException)
            {
                // The broker is away: connect again on the next round.
                await ResetAsync();
                return false;
            }
        }

        private async Task<IChannel> ChannelAsync(CancellationToken cancellationToken)
        {
            if (_channel is { IsOpen: true }) return _channel;
            await ResetAsync();
            _connection = await _factory.CreateConnectionAsync(cancellationToken);
            _channel = await _connection.CreateChannelAsync(cancellationToken: cancellationToken);
            return _channel;
        }

        private async Task ResetAsync()
        {
            try
            {
                if (_channel is not null) await _channel.DisposeAsync();
                if (_connection is not null) await _connection.DisposeAsync();
            }
            catch (Exception)
            {
                // Already gone with the broker.
            }

            (_channel, _connection) = (null, null);
        }

        public ValueTask DisposeAsync() => new(ResetAsync());
    }
}
