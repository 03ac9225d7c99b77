namespace Ledger.EventStore;

/// <summary>
/// A stored event as a writer reads it to decide on its stream's next events (<see cref="EventStore.ReadStreamsToDecideAsync"/>):
/// enough to fold the stream's state and to recognise a retry. The full event, with its metadata, hash, recorded time and
/// position, is a <see cref="RecordedEvent"/>.
/// </summary>
/// <param name="EventId">The event's id.</param>
/// <param name="StreamId">The stream it belongs to.</param>
/// <param name="StreamVersion">Its 1-based version in the stream.</param>
/// <param name="Type">The stored type name.</param>
/// <param name="Data">The payload as JSON text.</param>
/// <param name="OccurredAt">When it happened, according to the sender.</param>
public sealed record StreamEvent(Guid EventId, string StreamId, long StreamVersion, string Type, string Data, DateTimeOffset OccurredAt);
