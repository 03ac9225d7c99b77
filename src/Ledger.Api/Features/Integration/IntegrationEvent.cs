using Ledger.Api.ServiceDefaults.Messaging;

namespace Ledger.Api.Features.Integration;

/// <summary>
/// A message for downstream systems (docs/integration-events.md): a fact the ledger recorded, published at least once
/// through Wolverine's durable outbox. Its <see cref="IHasMessageId.MessageId"/> is the envelope's id (the transport's
/// message id, set by <see cref="MessageIdFromBodyAttribute"/>), the same on every delivery and every republication, so a
/// consumer deduplicates by it. Each integration event type has exactly one route: Wolverine's envelope tables key on
/// the id alone, and two routes would store one id twice and fail the batch (decision 0007).
/// </summary>
public interface IIntegrationEvent : IHasMessageId;
