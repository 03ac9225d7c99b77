using System.Text.Json;
using JasperFx.Events;
using Ledger.EventStore.Hashing;
using Marten;
using Marten.Events.Daemon.HighWater;
using Marten.Events.Projections;

namespace Ledger.EventStore.Appending;

/// <summary>
/// How the store writes its events in Marten's terms: the payload as the JSON it was given, under the ledger's stored type
/// name, with the chain hash, the sender's occurred-at and the metadata object in Marten's headers (the contract of
/// migration 0006's view), and what Marten writes in <c>mt_dotnet_type</c> so its own readers resolve the CLR type.
/// </summary>
internal sealed class MartenEvents
{
    /// <summary>Header names in <c>mt_events.headers</c>.</summary>
    public const string HashHeader = "hash", MetadataHeader = "metadata", OccurredAtHeader = "occurredAt";

    /// <summary>
    /// What Marten's own append sends when <c>UseListenNotifyForEventAppends</c> is on (its NotifyEventAppendedOperation):
    /// wakes the async daemon's high-water agent on every node at commit, instead of its polling.
    /// </summary>
    public static readonly string NotifyAppended = $"do $$ begin perform pg_notify('{PostgresqlListenWakeup.DefaultChannel}', ''); end $$";

    private readonly Dictionary<string, string> _dotNetTypeNames;

    public MartenEvents(IDocumentStore store, IReadOnlyDictionary<Type, string> eventTypes, IReadOnlyList<IProjection> inlineProjections)
    {
        Store = store;
        InlineProjections = inlineProjections;
        _dotNetTypeNames = DotNetTypeNames(eventTypes);
    }

    /// <summary>
    /// What Marten writes in <c>mt_dotnet_type</c> for each stored type name of <paramref name="eventTypes"/>, so that its
    /// own readers (the async daemon) resolve the CLR type where the alias alone would not do.
    /// </summary>
    public static Dictionary<string, string> DotNetTypeNames(IReadOnlyDictionary<Type, string> eventTypes) =>
        eventTypes.ToDictionary(p => p.Value, p => $"{p.Key.FullName}, {p.Key.Assembly.GetName().Name}", StringComparer.Ordinal);

    public IDocumentStore Store { get; }

    /// <summary>Projections run in each append's transaction, before its events are inserted (Marten's inline contract).</summary>
    public IReadOnlyList<IProjection> InlineProjections { get; }

    /// <summary>Whether the store knows every stored type name (always, when it was given no type map: a generic store).</summary>
    public bool Knows(string type) => _dotNetTypeNames.Count == 0 || _dotNetTypeNames.ContainsKey(type);

    /// <summary>What Marten writes in <c>mt_dotnet_type</c> for a stored type name (null for a type it was not given).</summary>
    public string? DotNetTypeName(string type) => _dotNetTypeNames.GetValueOrDefault(type);

    /// <summary>The event as Marten hands an appended event to an inline projection (its position not drawn yet).</summary>
    public IEvent Build(PreparedEvent e, string streamId, long streamVersion, byte[] hash, DateTimeOffset recordedAt)
    {
        var metadata = e.Source.Metadata ?? EventMetadata.None;
        var built = new Event<EventPayload>(e.Payload)
        {
            Id = e.EventId,
            StreamKey = streamId,
            Version = streamVersion,
            Timestamp = recordedAt,
            EventTypeName = e.Source.Type,
            DotNetTypeName = DotNetTypeName(e.Source.Type)!,
            UserName = metadata.Actor,
            CorrelationId = metadata.CorrelationId,
            CausationId = metadata.CausationId,
        };
        built.SetHeader(HashHeader, Convert.ToHexStringLower(hash));
        built.SetHeader(MetadataHeader, e.MetadataElement);
        built.SetHeader(OccurredAtHeader, EventHasher.FormatTimestamp(e.OccurredAt));
        return built;
    }

    /// <summary>
    /// The headers object of <c>mt_events</c> (migration 0006's view reads it back): the chain hash as lowercase hex, the
    /// metadata object as recorded, and occurred-at in the envelope's form. <paramref name="metadataJson"/> is a JSON object
    /// that its caller serialized or parsed already; it is copied as it is.
    /// </summary>
    /// <remarks>
    /// Built as one string: neither the hex digits nor the timestamp need escaping in JSON, so this is exactly what a
    /// <c>Utf8JsonWriter</c> wrote here before, without its buffers, which were 11 % of the service's allocations in batch
    /// ingest (6 KB per event; docs/benchmarks.md, "Issue 15, the write path's CPU"). <c>MartenEventsTests</c> holds it to
    /// the writer's output.
    /// </remarks>
    public static string Headers(ReadOnlySpan<byte> hash, string metadataJson, DateTimeOffset occurredAt) => string.Concat(
        [$"{{\"{HashHeader}\":\"", Convert.ToHexStringLower(hash), $"\",\"{MetadataHeader}\":", metadataJson,
         $",\"{OccurredAtHeader}\":\"", EventHasher.FormatTimestamp(occurredAt), "\"}"]);

    /// <summary>An event this store built for an inline projection, in the store's terms (position 0: not drawn yet).</summary>
    public static RecordedEvent ToRecorded(IEvent e)
    {
        if (e.Data is not EventPayload data || e.GetHeader(HashHeader) is not string hash || e.GetHeader(OccurredAtHeader) is not string occurredAt
            || e.GetHeader(MetadataHeader) is not JsonElement metadata)
        {
            throw new ArgumentException($"Event {e.Id} was not built by the ledger's event store.", nameof(e));
        }

        return new RecordedEvent(e.Sequence, e.Id, e.StreamKey!, e.Version, e.EventTypeName, data.Json, metadata.GetRawText(),
            DateTimeOffset.Parse(occurredAt, System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.AssumeUniversal),
            e.Timestamp, Convert.FromHexString(hash));
    }
}
