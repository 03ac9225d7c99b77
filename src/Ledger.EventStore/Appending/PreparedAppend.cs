using System.Text.Json;
using Ledger.EventStore.Hashing;

namespace Ledger.EventStore.Appending;

/// <summary>
/// An event checked and canonicalized on the caller's thread, so the writer that owns the transaction only assembles
/// hashes and sends rows.
/// </summary>
internal sealed class PreparedEvent
{
    public PreparedEvent(EventData source, PreparedMetadata metadata)
    {
        Source = source;
        OccurredAt = Microseconds.Truncate(source.OccurredAt);
        if (string.IsNullOrWhiteSpace(source.Type)) throw new InvalidEventDataException(source.EventId, "its type is empty");
        if (source.EventId == Guid.Empty) throw new InvalidEventDataException(source.EventId, "its id is empty");
        try
        {
            using var document = JsonDocument.Parse(source.Data);
            if (document.RootElement.ValueKind != JsonValueKind.Object)
                throw new InvalidEventDataException(source.EventId, "its data is not a JSON object");
            CanonicalData = Canonical(document.RootElement);
            Payload = new EventPayload(source.Data);
        }
        catch (JsonException e)
        {
            throw new InvalidEventDataException(source.EventId, "its data is not valid JSON", e);
        }
        catch (FormatException e)
        {
            throw new InvalidEventDataException(source.EventId, e.Message, e);
        }

        Metadata = metadata;
    }

    public EventData Source { get; }
    public Guid EventId => Source.EventId;
    public DateTimeOffset OccurredAt { get; }
    public byte[] CanonicalData { get; }
    public EventPayload Payload { get; }
    public PreparedMetadata Metadata { get; }
    public JsonElement MetadataElement => Metadata.Element;
    public string MetadataJson => Metadata.Json;
    public byte[] CanonicalMetadata => Metadata.Canonical;

    private static byte[] Canonical(JsonElement element)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(256);
        CanonicalJson.Write(element, buffer);
        return buffer.WrittenSpan.ToArray();
    }
}

/// <summary>
/// An event's metadata as JSON, canonical JSON and a parsed element: the same for every event of a request that shares
/// one metadata object (the API's writer gives all of a request's events one), so prepared once for them, not per event.
/// </summary>
internal sealed class PreparedMetadata
{
    public PreparedMetadata(EventMetadata? metadata)
    {
        Json = JsonSerializer.Serialize(metadata ?? EventMetadata.None, MetadataJsonContext.Default.EventMetadata);
        Canonical = CanonicalJson.Canonicalize(Json);
        using var document = JsonDocument.Parse(Json);
        Element = document.RootElement.Clone();
    }

    public string Json { get; }
    public byte[] Canonical { get; }
    public JsonElement Element { get; }
}

internal sealed record PreparedStream(string StreamId, ExpectedVersion ExpectedVersion, IReadOnlyList<PreparedEvent> Events);

/// <summary>One caller's append: all of its streams succeed together or not at all.</summary>
internal sealed class PreparedRequest
{
    private readonly TaskCompletionSource<IReadOnlyList<AppendResult>> _completion =
        new(TaskCreationOptions.RunContinuationsAsynchronously);

    public PreparedRequest(IReadOnlyList<StreamAppend> appends, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(appends);
        if (appends.Count == 0) throw new ArgumentException("Nothing to append.", nameof(appends));
        var streamIds = new HashSet<string>(StringComparer.Ordinal);
        var eventIds = new HashSet<Guid>();
        var streams = new List<PreparedStream>(appends.Count);
        // By reference: equal metadata objects prepared twice would only cost time, and a record's equality would have to
        // compare its Extra dictionary by reference anyway.
        var metadata = new Dictionary<EventMetadata, PreparedMetadata>(ReferenceEqualityComparer.Instance);
        PreparedMetadata? none = null;
        foreach (var append in appends)
        {
            if (string.IsNullOrEmpty(append.StreamId)) throw new ArgumentException("A stream id is empty.", nameof(appends));
            if (!streamIds.Add(append.StreamId))
                throw new ArgumentException($"Stream '{append.StreamId}' appears twice in one append; put its events together.", nameof(appends));
            if (append.Events.Count == 0) throw new ArgumentException($"No events for stream '{append.StreamId}'.", nameof(appends));
            var events = new PreparedEvent[append.Events.Count];
            for (var i = 0; i < events.Length; i++)
            {
                var source = append.Events[i];
                var prepared = source.Metadata is null
                    ? none ??= new PreparedMetadata(null)
                    : metadata.TryGetValue(source.Metadata, out var known) ? known : metadata[source.Metadata] = new PreparedMetadata(source.Metadata);
                events[i] = new PreparedEvent(source, prepared);
                if (!eventIds.Add(events[i].EventId))
                    throw new ArgumentException($"Event id {events[i].EventId} appears twice in one append.", nameof(appends));
            }

            streams.Add(new PreparedStream(append.StreamId, append.ExpectedVersion, events));
        }

        Streams = streams;
        StreamIds = streamIds;
        EventIds = eventIds;
        EventCount = eventIds.Count;
        CancellationToken = cancellationToken;
        TraceContext = System.Diagnostics.Activity.Current?.Context ?? default;
    }

    public IReadOnlyList<PreparedStream> Streams { get; }
    public IReadOnlySet<string> StreamIds { get; }
    public IReadOnlySet<Guid> EventIds { get; }
    public int EventCount { get; }
    public CancellationToken CancellationToken { get; }

    /// <summary>The span the append was asked under (none: default), for the group commit's span to join or link to.</summary>
    public System.Diagnostics.ActivityContext TraceContext { get; }
    public Task<IReadOnlyList<AppendResult>> Completion => _completion.Task;
    public bool IsCompleted => _completion.Task.IsCompleted;

    public void Succeed(IReadOnlyList<AppendResult> results) => _completion.TrySetResult(results);
    public void Fail(Exception error) => _completion.TrySetException(error);
    public void Cancel() => _completion.TrySetCanceled(CancellationToken);
}

internal static class Microseconds
{
    /// <summary>PostgreSQL keeps microseconds; truncating first makes what is hashed equal to what is stored.</summary>
    public static DateTimeOffset Truncate(DateTimeOffset value) =>
        new(value.UtcTicks - value.UtcTicks % 10, TimeSpan.Zero);
}
