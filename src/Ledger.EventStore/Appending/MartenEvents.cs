using System.Text.Json;
using JasperFx.Events;
using Ledger.EventStore.Hashing;
using Marten;

namespace Ledger.EventStore.Appending;

/// <summary>
/// How the store hands its events to Marten: the payload as the JSON it was given (an <see cref="EventPayload"/>, which
/// Marten's serializer writes back as parsed), under the ledger's stored type name, with the chain hash, the sender's
/// occurred-at and the metadata object in Marten's headers (the contract of migration 0006's view).
/// </summary>
internal sealed class MartenEvents
{
    /// <summary>Header names in <c>mt_events.headers</c>.</summary>
    public const string HashHeader = "hash", MetadataHeader = "metadata", OccurredAtHeader = "occurredAt";

    private readonly Dictionary<string, string> _dotNetTypeNames;

    public MartenEvents(IDocumentStore store, IReadOnlyDictionary<Type, string> eventTypes)
    {
        Store = store;
        // What Marten itself writes in mt_dotnet_type for a mapped type, so that its own readers (the async daemon) can
        // resolve the CLR type when the alias alone would not do.
        _dotNetTypeNames = eventTypes.ToDictionary(p => p.Value, p => $"{p.Key.FullName}, {p.Key.Assembly.GetName().Name}", StringComparer.Ordinal);
    }

    public IDocumentStore Store { get; }

    /// <summary>Whether the store knows every stored type name (always, when it was given no type map: a generic store).</summary>
    public bool Knows(string type) => _dotNetTypeNames.Count == 0 || _dotNetTypeNames.ContainsKey(type);

    public static IEvent Build(PreparedEvent e, byte[] hash, DateTimeOffset recordedAt)
    {
        var metadata = e.Source.Metadata ?? EventMetadata.None;
        var built = new Event<EventPayload>(e.Payload)
        {
            Id = e.EventId,
            Timestamp = recordedAt,
            UserName = metadata.Actor,
            CorrelationId = metadata.CorrelationId,
            CausationId = metadata.CausationId,
        };
        built.SetHeader(HashHeader, Convert.ToHexStringLower(hash));
        built.SetHeader(MetadataHeader, e.MetadataElement);
        built.SetHeader(OccurredAtHeader, EventHasher.FormatTimestamp(e.OccurredAt));
        return built;
    }

    /// <summary>An event this store built for a Marten session, in the store's terms (position 0 until Marten has drawn it).</summary>
    public static RecordedEvent ToRecorded(IEvent e)
    {
        if (e.Data is not EventPayload data || e.GetHeader(HashHeader) is not string hash || e.GetHeader(OccurredAtHeader) is not string occurredAt
            || e.GetHeader(MetadataHeader) is not JsonElement metadata)
        {
            throw new ArgumentException($"Event {e.Id} was not built by the ledger's event store.", nameof(e));
        }

        return new RecordedEvent(e.Sequence, e.Id, e.StreamKey!, e.Version, e.EventTypeName, data.Json.GetRawText(), metadata.GetRawText(),
            DateTimeOffset.Parse(occurredAt, System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.AssumeUniversal),
            e.Timestamp, Convert.FromHexString(hash));
    }

    /// <summary>
    /// Marten names an appended <see cref="IEvent"/> after its CLR type (here <see cref="EventPayload"/>) when it is added
    /// to the session; the name it stores is read when the session is saved, so it is set back to ours in between.
    /// </summary>
    public void Name(IEvent e, string type)
    {
        e.EventTypeName = type;
        e.DotNetTypeName = _dotNetTypeNames.GetValueOrDefault(type)!;
    }
}
