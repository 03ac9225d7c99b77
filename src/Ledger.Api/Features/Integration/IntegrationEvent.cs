using Wolverine;
using Wolverine.Attributes;

namespace Ledger.Api.Features.Integration;

/// <summary>
/// A message for downstream systems (docs/integration-events.md): a fact the ledger recorded, published at least once
/// through Wolverine's durable outbox. Its <see cref="MessageId"/> is the envelope's id (the transport's message id), the
/// same on every delivery and every republication, so a consumer deduplicates by it.
/// </summary>
public interface IIntegrationEvent
{
    /// <summary>The message's id: the recorded event's id, or one derived from what the message announces.</summary>
    Guid MessageId { get; }
}

/// <summary>
/// Gives the envelope of an <see cref="IIntegrationEvent"/> the message's own id instead of a fresh one. Wolverine's
/// envelope tables key on that id alone, so each integration event type has exactly one route (decision 0007: two routes
/// would store one id twice and fail the batch).
/// </summary>
[AttributeUsage(AttributeTargets.Class, Inherited = false)]
public sealed class MessageIdIsIntegrationIdAttribute : ModifyEnvelopeAttribute
{
    /// <inheritdoc/>
    public override void Modify(Envelope envelope)
    {
        ArgumentNullException.ThrowIfNull(envelope);
        if (envelope.Message is IIntegrationEvent message) envelope.Id = message.MessageId;
    }
}
