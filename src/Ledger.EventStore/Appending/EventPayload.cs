using System.Text.Json;
using System.Text.Json.Serialization;

namespace Ledger.EventStore.Appending;

/// <summary>
/// An event's payload as the JSON the caller gave, parsed once where the append is prepared, in a reference type (Marten
/// maps only those as events) whose converter writes the parsed element back as it is.
/// </summary>
[JsonConverter(typeof(EventPayloadConverter))]
public sealed class EventPayload
{
    internal EventPayload(JsonElement json) => Json = json;

    /// <summary>The payload, a JSON object.</summary>
    public JsonElement Json { get; }
}

internal sealed class EventPayloadConverter : JsonConverter<EventPayload>
{
    public override EventPayload Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        new(JsonElement.ParseValue(ref reader));

    public override void Write(Utf8JsonWriter writer, EventPayload value, JsonSerializerOptions options) =>
        value.Json.WriteTo(writer);
}
