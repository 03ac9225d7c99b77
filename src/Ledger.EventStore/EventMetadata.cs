using System.Text.Json.Serialization;

namespace Ledger.EventStore;

/// <summary>
/// Who recorded an event and why. Stored as a JSON object beside the event; the well-known fields below are written in
/// camelCase and anything else goes in <see cref="Extra"/>.
/// </summary>
public sealed record EventMetadata
{
    /// <summary>The name of whoever recorded the event (for the ledger: the API key's name).</summary>
    public string? Actor { get; init; }

    /// <summary>A stable id of the actor (for the ledger: the API key's id).</summary>
    public string? ActorId { get; init; }

    /// <summary>Ties together everything done for one request or business process.</summary>
    public string? CorrelationId { get; init; }

    /// <summary>The id of the message or event that caused this one.</summary>
    public string? CausationId { get; init; }

    /// <summary>The idempotency key the sender gave, if any.</summary>
    public string? IdempotencyKey { get; init; }

    /// <summary>Anything else worth keeping with the event.</summary>
    public IReadOnlyDictionary<string, string>? Extra { get; init; }

    /// <summary>Metadata with no fields set.</summary>
    public static EventMetadata None { get; } = new();
}

[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(EventMetadata))]
internal sealed partial class MetadataJsonContext : JsonSerializerContext;
