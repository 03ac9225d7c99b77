using System.Text.Json;

namespace Ledger.EventStore;

/// <summary>An event as stored.</summary>
public sealed class RecordedEvent
{
    private EventMetadata? _metadata;

    /// <summary>Creates a stored event (the store creates these; public for tests and importers).</summary>
    public RecordedEvent(
        long position, Guid eventId, string streamId, long streamVersion, string type, string data,
        string metadataJson, DateTimeOffset occurredAt, DateTimeOffset recordedAt, byte[] hash)
    {
        Position = position;
        EventId = eventId;
        StreamId = streamId;
        StreamVersion = streamVersion;
        Type = type;
        Data = data;
        MetadataJson = metadataJson;
        OccurredAt = occurredAt;
        RecordedAt = recordedAt;
        Hash = hash;
    }

    /// <summary>
    /// Global position (Marten's sequence number, <c>seq_id</c>): unique, increasing within a stream, and the feed's order.
    /// </summary>
    public long Position { get; }

    /// <summary>The event's id.</summary>
    public Guid EventId { get; }

    /// <summary>The stream the event belongs to.</summary>
    public string StreamId { get; }

    /// <summary>1-based, contiguous version of the event within its stream.</summary>
    public long StreamVersion { get; }

    /// <summary>The stored type name.</summary>
    public string Type { get; }

    /// <summary>The payload as JSON text (as PostgreSQL renders the stored jsonb).</summary>
    public string Data { get; }

    /// <summary>The metadata as JSON text (as PostgreSQL renders the stored jsonb).</summary>
    public string MetadataJson { get; }

    /// <summary>When it happened, according to the sender.</summary>
    public DateTimeOffset OccurredAt { get; }

    /// <summary>When the ledger recorded it (the service's clock).</summary>
    public DateTimeOffset RecordedAt { get; }

    /// <summary>SHA-256 over the event's canonical encoding chained to the previous event of the stream (see docs/auditing.md).</summary>
    public ReadOnlyMemory<byte> Hash { get; }

    /// <summary>
    /// An event of an append this store is making, as a Marten inline projection receives it (Marten runs those before it
    /// draws positions: <see cref="Position"/> is 0 there).
    /// </summary>
    public static RecordedEvent FromSession(JasperFx.Events.IEvent e) => Appending.MartenEvents.ToRecorded(e);

    /// <summary>The metadata, parsed.</summary>
    public EventMetadata Metadata =>
        _metadata ??= JsonSerializer.Deserialize(MetadataJson, MetadataJsonContext.Default.EventMetadata) ?? EventMetadata.None;

    /// <summary>The event's place in the global feed.</summary>
    public FeedCursor Cursor => new(Position);
}
