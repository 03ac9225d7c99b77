using Ledger.Api.Features.Integration;
using Ledger.Api.Features.Integration.Journal;
using Wolverine;

namespace Ledger.Api.ServiceDefaults.Messaging;

/// <summary>
/// Publishes the integration events of one subscription batch as the configured transport takes them
/// (<see cref="IntegrationTransport"/>): to the broker one message each, each with its own id; without one, all of them
/// as one <see cref="JournalBatch"/> to the journal's durable local queue (decision 0009). Either way through the batch's
/// <see cref="IMessageBus"/>, so the envelopes commit with the subscription's progression.
/// </summary>
public sealed class IntegrationPublisher
{
    private readonly bool _toJournal;

    /// <param name="toJournal">True when no broker is configured.</param>
    public IntegrationPublisher(bool toJournal) => _toJournal = toJournal;

    /// <summary>Publishes <paramref name="messages"/>, in order.</summary>
    /// <exception cref="InvalidOperationException">A message has no route: the batch fails and is retried.</exception>
    public async ValueTask PublishAsync(IMessageBus bus, IReadOnlyList<IIntegrationEvent> messages)
    {
        ArgumentNullException.ThrowIfNull(bus);
        ArgumentNullException.ThrowIfNull(messages);
        if (messages.Count == 0) return;
        if (_toJournal)
        {
            await PublishRoutedAsync(bus, new JournalBatch([.. messages.Select(JournalEntry.Of)]));
            return;
        }

        foreach (var message in messages) await PublishRoutedAsync(bus, message);
    }

    // A publish that finds no route succeeds and sends nothing, while the subscription's progression (and the milestones it
    // records as announced) would move past the events for good: fail the batch instead, so the daemon retries it.
    private static ValueTask PublishRoutedAsync(IMessageBus bus, object message)
    {
        if (bus.PreviewSubscriptions(message).Count == 0)
        {
            throw new InvalidOperationException($"No route for {message.GetType().Name} yet: the subscription's batch is retried.");
        }

        return bus.PublishAsync(message);
    }
}
