namespace Ledger.EventStore;

/// <summary>An event to append.</summary>
/// <param name="EventId">Unique id of the event; appending an id that is already stored is an idempotent retry.</param>
/// <param name="Type">The stored type name (stable across code renames, e.g. <c>unit-built.v1</c>).</param>
/// <param name="Data">The event's payload as a JSON object.</param>
/// <param name="OccurredAt">When it happened, according to the sender. Stored with microsecond precision.</param>
/// <param name="Metadata">Who recorded it and why.</param>
public sealed record EventData(Guid EventId, string Type, string Data, DateTimeOffset OccurredAt, EventMetadata? Metadata = null);

/// <summary>Events to append to one stream, with the version the writer expects the stream to be at.</summary>
public sealed record StreamAppend(string StreamId, ExpectedVersion ExpectedVersion, IReadOnlyList<EventData> Events);
