using JasperFx.Events.Daemon;
using JasperFx.Events.Projections;
using Marten;
using Ledger.Api.ServiceDefaults.Messaging;
using Npgsql;
using Wolverine;
using Wolverine.Marten.Subscriptions;

namespace Ledger.Api.Features.Integration.Units;

/// <summary>
/// Publishes <see cref="UnitShipped"/>, <see cref="UnitDelivered"/> and <see cref="UnitCommissioned"/> from the committed
/// event stream (docs/decisions/0007, Q1 (c)): a Wolverine subscription over Marten, run by the store's projection daemon
/// (HotCold: on one node at a time). Its <see cref="IMessageBus"/> is enlisted in the daemon batch's session, so the
/// outgoing envelopes commit in one transaction with the subscription's progression (<c>integration:All</c> in
/// <c>mt_event_progression</c>): a notification is published if and only if its event was recorded, once per event, and
/// a crash before that commit is the ordinary restart from the progression.
/// </summary>
/// <remarks>
/// Never rewound or rebuilt: the envelope tables key on the message id, which is the event id, and a rewind re-published
/// ids still stored as handled, which failed every batch (0007, "Message id = event id"). It is not a read model, so the
/// read models' rebuild, retry and skip machinery (ledger.projection_checkpoints) does not know it.
/// </remarks>
public sealed class UnitNotificationsSubscription : BatchSubscription
{
    /// <summary>The subscription's name, and so its progression row <c>integration:All</c>.</summary>
    public const string Name = "integration";

    private readonly NpgsqlDataSource _dataSource;
    private readonly IntegrationPublisher _publisher;

    // The data source rather than the EventStore: Marten builds this subscription while the host builds the document store,
    // which the EventStore itself depends on.
    public UnitNotificationsSubscription(NpgsqlDataSource dataSource, IntegrationPublisher publisher) : base(Name)
    {
        _dataSource = dataSource ?? throw new ArgumentNullException(nameof(dataSource));
        _publisher = publisher ?? throw new ArgumentNullException(nameof(publisher));
        // The daemon then loads only these types: the progression still advances over every event.
        foreach (var type in UnitNotifications.AnnouncedEvents) IncludeType(type);
    }

    public override async Task ProcessEventsAsync(
        EventRange page, ISubscriptionController controller, IDocumentOperations operations, IMessageBus bus, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(page);
        ArgumentNullException.ThrowIfNull(bus);
        var announced = page.Events.Where(e => UnitNotifications.AnnouncedEvents.Contains(e.EventType)).ToList();
        if (announced.Count == 0) return;

        // The units' whole streams in one query for the batch: every event of the page is committed, so their streams up
        // to it are too.
        var serials = announced.Select(e => e.StreamKey ?? throw new InvalidOperationException($"Event {e.Id} has no stream key."))
            .Distinct(StringComparer.Ordinal).ToList();
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        var streams = await EventStore.EventStore.ReadStreamsAsync(connection, null, serials, cancellationToken);

        var notifications = new List<IIntegrationEvent>(announced.Count);
        foreach (var e in announced)
        {
            var stream = streams[e.StreamKey!];
            var recorded = stream.FirstOrDefault(r => r.EventId == e.Id)
                ?? throw new InvalidOperationException($"Event {e.Id} of {e.StreamKey} was not found in its stream.");
            notifications.Add(UnitNotifications.Map(recorded, stream)
                ?? throw new InvalidOperationException($"Event {e.Id} of {e.StreamKey} ({recorded.Type}) maps to no notification."));
        }

        await _publisher.PublishAsync(bus, notifications);
    }
}
