using Ledger.Api.Features.Integration;
using Ledger.Api.Features.Integration.Journal;
using Wolverine;
using Wolverine.RabbitMQ;

namespace Ledger.Api.ServiceDefaults.Messaging;

/// <summary>
/// Where integration events go (docs/integration-events.md, "Transports"): every <see cref="IIntegrationEvent"/> type of
/// this assembly gets exactly one route. With <c>Ledger:RabbitMq</c> set, the RabbitMQ exchange <see cref="Exchange"/>
/// (fanout: consumers bind their own queues) through the durable outbox with publisher confirms; without it, the durable
/// local queue <see cref="JournalQueue"/>, whose handler keeps the journal (<c>ledger.integration_events</c>).
/// </summary>
public static class IntegrationTransport
{
    /// <summary>The configuration key of the broker's amqp:// URI.</summary>
    public const string RabbitMqSetting = "Ledger:RabbitMq";

    /// <summary>The RabbitMQ exchange every integration event is published to.</summary>
    public const string Exchange = "ledger.integration";

    /// <summary>The durable local queue integration events go to without a broker.</summary>
    public const string JournalQueue = "integration-journal";

    /// <summary>The most JournalBatch envelopes the journal writes in one statement.</summary>
    public const int JournalEnvelopesPerWrite = 100;

    /// <summary>How long the journal waits for more envelopes before it writes those it has.</summary>
    public static readonly TimeSpan JournalGatherTime = TimeSpan.FromMilliseconds(50);

    /// <summary>
    /// Every integration event type, found in this assembly rather than listed, so a new one (FactoryMilestoneReached)
    /// cannot be forgotten in the routing.
    /// </summary>
    public static IReadOnlyList<Type> MessageTypes { get; } =
    [
        .. typeof(IIntegrationEvent).Assembly.GetTypes()
            .Where(t => t is { IsClass: true, IsAbstract: false } && t.IsAssignableTo(typeof(IIntegrationEvent)))
            .OrderBy(t => t.FullName, StringComparer.Ordinal),
    ];

    /// <summary>The broker's URI from <paramref name="configuration"/>, or null for the local journal.</summary>
    /// <exception cref="InvalidOperationException">It is set but is not an absolute amqp:// or amqps:// URI.</exception>
    public static Uri? BrokerUri(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var text = configuration[RabbitMqSetting];
        if (string.IsNullOrWhiteSpace(text)) return null;
        if (Uri.TryCreate(text.Trim(), UriKind.Absolute, out var uri) && uri.Scheme is "amqp" or "amqps") return uri;
        throw new InvalidOperationException($"{RabbitMqSetting} must be an amqp:// or amqps:// URI (for example amqp://user:password@127.0.0.1:5672/).");
    }

    /// <summary>Routes every integration event type, to the broker when <paramref name="broker"/> is given.</summary>
    public static void Configure(WolverineOptions options, Uri? broker)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Services.AddSingleton(new IntegrationPublisher(toJournal: broker is null));
        if (broker is null)
        {
            options.Publish(rule =>
            {
                // The subscriptions publish a batch's messages as one JournalBatch (IntegrationPublisher, decision 0009);
                // each integration event type is routed here too, so that none published alone is ever dropped.
                rule.Message<JournalBatch>();
                foreach (var type in MessageTypes) rule.Message(type);
                // Durable, as every local queue here (LedgerMessaging: UseDurableLocalQueues): a batch stays in the inbox
                // (wolverine_incoming_envelopes) until it is journaled, so a crash before that loses nothing
                // (docs/decisions/0007, Q5).
                rule.ToLocalQueue(JournalQueue);
            });
            // Under a load of single events a subscription batch holds a notification or two, and each envelope cost the
            // queue two transactions: Wolverine gathers the JournalBatch envelopes waiting on the queue (up to
            // JournalEnvelopesPerWrite, or what came within JournalGatherTime) into one handler call, in the order they
            // arrived, and marks them handled only once it succeeded, so a crash before that leaves them in the inbox.
            // Sequential, so the journal keeps the order the subscriptions published in (feed order); in parallel, a
            // unit's delivery was free to be journaled before its shipment. (Batching the integration events themselves,
            // BatchMessagesOf<IIntegrationEvent>, finds no handler for the concrete types: decision 0009.)
            options.BatchMessagesOf<JournalBatch>(batching =>
                {
                    batching.BatchSize = JournalEnvelopesPerWrite;
                    batching.TriggerTime = JournalGatherTime;
                    batching.LocalExecutionQueueName = JournalQueue;
                })
                .Sequential();
            // The journal's handler of single messages (those queued by versions before 0009) takes IIntegrationEvent, so
            // Wolverine knows the wire names (ledger.unit-shipped.v1, ...) of no concrete type. A message published in this
            // process carries its object and never needs the name, but one recovered from the inbox is read back by it:
            // unknown, it went to Wolverine's "no handler" path, which marks it Handled without running the handler. That
            // lost every notification still in a killed node's inbox (docs/integration-events.md, "Delivery guarantees").
            foreach (var type in MessageTypes) options.RegisterMessageType(type);
            return;
        }

        options.UseRabbitMq(broker)
            .AutoProvision()
            // Without confirms the sender treats a written publish as sent and deletes the outbox row: 47 of 19,850
            // notifications were lost when the broker was killed (docs/decisions/0007, "RabbitMQ"). With them, none.
            .ConfigureChannelCreation(channel =>
            {
                channel.PublisherConfirmationsEnabled = true;
                channel.PublisherConfirmationTrackingEnabled = true;
            });
        options.Publish(rule =>
        {
            foreach (var type in MessageTypes) rule.Message(type);
            // One exchange, one route per type: the envelope tables key on the message id alone, so a second route would
            // store one id twice and fail the subscription's batch (0007). Consumers fan out by binding their own queues.
            rule.ToRabbitExchange(Exchange, exchange => exchange.ExchangeType = ExchangeType.Fanout).UseDurableOutbox();
        });
    }
}
