using Wolverine;
using Wolverine.Attributes;

namespace Ledger.Api.ServiceDefaults.Messaging;

/// <summary>A message that carries its own id: the same fact, or the same scheduled run, always has the same one.</summary>
public interface IHasMessageId
{
    /// <summary>The message's id, used as the envelope's (and the transport's message) id.</summary>
    Guid MessageId { get; }
}

/// <summary>
/// Gives the envelope of an <see cref="IHasMessageId"/> the message's own id instead of a fresh one. Wolverine's envelope
/// tables key on that id alone: a second message with the same id is refused there, which is what makes a scheduled run
/// happen once however many nodes schedule it, and what lets consumers deduplicate integration events. It also means
/// one route per message type (decision 0007: two routes would store one id twice and fail the batch).
/// </summary>
[AttributeUsage(AttributeTargets.Class, Inherited = false)]
public sealed class MessageIdFromBodyAttribute : ModifyEnvelopeAttribute
{
    /// <inheritdoc/>
    public override void Modify(Envelope envelope)
    {
        ArgumentNullException.ThrowIfNull(envelope);
        if (envelope.Message is IHasMessageId message) envelope.Id = message.MessageId;
    }
}
