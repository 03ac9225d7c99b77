using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Ledger.Api.ServiceDefaults;
using Ledger.Api.ServiceDefaults.Messaging;
using Wolverine.Attributes;
using Wolverine.Util;

namespace Ledger.Api.Features.Integration.Journal;

/// <summary>One integration event as the journal stores it: what a broker's consumer would receive.</summary>
/// <param name="MessageId">The message id (for unit notifications, the recorded event's id).</param>
/// <param name="Type">The wire name (<c>ledger.unit-shipped.v1</c>, ...).</param>
/// <param name="Body">The message's JSON, as a consumer receives it.</param>
public sealed record JournalEntry(Guid MessageId, string Type, string Body)
{
    /// <summary>The entry of <paramref name="message"/>.</summary>
    public static JournalEntry Of(IIntegrationEvent message)
    {
        ArgumentNullException.ThrowIfNull(message);
        return new(message.MessageId, message.GetType().ToMessageTypeName(), JsonSerializer.Serialize(message, message.GetType()));
    }
}

/// <summary>
/// The integration events one subscription batch published, in order, on their way to the journal: what the durable
/// local queue <see cref="IntegrationTransport.JournalQueue"/> carries when no broker is configured, one envelope per
/// batch rather than one per message (decision 0009).
/// </summary>
/// <remarks>
/// Its id is named by the batch's first and last message and their count, so a batch published twice for the same
/// events (a stale owner of the subscription committing after another node took it over) is refused by Wolverine's
/// envelope table and fails, as one message id stored twice does with a broker (decision 0007).
/// </remarks>
[MessageIdentity("ledger.integration-journal-batch")]
[MessageIdFromBody]
public sealed record JournalBatch(IReadOnlyList<JournalEntry> Entries) : IHasMessageId
{
    /// <inheritdoc />
    [JsonIgnore]
    public Guid MessageId => NameBasedId.From(
        "ledger.integration-journal-batch",
        Entries[0].MessageId.ToString("D"),
        Entries[^1].MessageId.ToString("D"),
        Entries.Count.ToString(CultureInfo.InvariantCulture));
}
