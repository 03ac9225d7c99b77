using System.Text.Json;
using System.Text.Json.Serialization;

namespace Ledger.EventStore.Appending;

/// <summary>
/// An event's payload as the JSON text the caller gave (checked to be a JSON object where the append is prepared), in a
/// reference type (Marten maps only those as events) whose converter writes it back as it is. Inline projections read
/// the text; keeping a parsed copy beside it cost an element clone per event that only ever became text again.
/// </summary>
[JsonConverter(typeof(EventPayloadConverter))]
public sealed class EventPayload
{
    internal EventPayload(string json) => Json = json;

    /// <summary>The payload, a JSON object, as text.</summary>
    public string Json { get; }
}

internal sealed class EventPayloadConverter : JsonConverter<EventPayload>
{
    public override EventPayload Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        using var document = JsonDocument.ParseValue(ref reader);
        return new(document.RootElement.GetRawText());
    }

    // Not validated again: the text was parsed as a JSON object where the append was prepared (PreparedEvent), or comes
    // from a parsed document (Read). Validating would parse every payload a second time inside the append's transaction.
    public override void Write(Utf8JsonWriter writer, EventPayload value, JsonSerializerOptions options) =>
        writer.WriteRawValue(value.Json, skipInputValidation: true);
}
