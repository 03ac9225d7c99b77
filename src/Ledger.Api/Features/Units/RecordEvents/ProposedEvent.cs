using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Ledger.Production.Units;

namespace Ledger.Api.Features.Units.RecordEvents;

/// <summary>
/// One event of a request, read: <c>{"eventId"?, "type", "occurredAt", "data"}</c> (plus <c>serial</c> in a batch). Its
/// data is checked afterwards, with the whole command (<see cref="RecordEventsValidator"/>).
/// </summary>
/// <param name="Index">Its place in the request, for error messages.</param>
/// <param name="Path">Where it is in the request body (<c>""</c>, <c>[2]</c>, <c>events[537]</c>), for error messages.</param>
/// <param name="Serial">The unit.</param>
/// <param name="EventId">The sender's id for it, if given.</param>
/// <param name="Type">Which event it is.</param>
/// <param name="Event">Its data.</param>
/// <param name="OccurredAt">When it happened, per the sender.</param>
public sealed record ProposedEvent(int Index, string Path, Serial Serial, Guid? EventId, UnitEventType Type, IUnitEvent Event, DateTimeOffset OccurredAt)
{
    public OccurredEvent Occurred => new(Event, OccurredAt);
}

/// <summary>The data of an event whose other fields could not all be read.</summary>
/// <param name="Path">Where the event is in the request body.</param>
/// <param name="Event">Its data.</param>
public sealed record PartlyReadEvent(string Path, IUnitEvent Event);

/// <summary>
/// Reads the event objects of a request and collects every problem of shape by field path (<c>events[3].occurredAt</c>):
/// the command carries them to its validator, which adds what it finds in the data, so a line engineer sees all that is
/// wrong at once.
/// </summary>
internal sealed partial class EventEnvelopeReader
{
    private readonly Dictionary<string, List<string>> _errors = new(StringComparer.Ordinal);
    private readonly List<PartlyReadEvent> _partlyRead = [];

    public bool HasErrors => _errors.Count > 0;

    /// <summary>The data of events that could not be read in full, for the validator.</summary>
    public IReadOnlyList<PartlyReadEvent> PartlyRead => _partlyRead;

    public IDictionary<string, string[]> Errors => _errors.ToDictionary(e => e.Key, e => e.Value.ToArray(), StringComparer.Ordinal);

    public void Add(string path, string message)
    {
        if (!_errors.TryGetValue(path, out var messages)) _errors[path] = messages = [];
        messages.Add(message);
    }

    /// <summary>Reads one event object. <paramref name="serial"/> is the route's unit, or null when the object names its own.</summary>
    public ProposedEvent? Read(JsonElement element, int index, string path, Serial? serial)
    {
        var at = (string field) => path.Length == 0 ? field : $"{path}.{field}";
        if (element.ValueKind != JsonValueKind.Object)
        {
            Add(path.Length == 0 ? "$" : path, "An event must be a JSON object.");
            return null;
        }

        var allowed = serial is null ? BatchFields : UnitFields;
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var property in element.EnumerateObject())
        {
            if (!seen.Add(property.Name)) Add(at(property.Name), "This field appears more than once.");
            else if (!allowed.Contains(property.Name)) Add(at(property.Name), $"Unknown field; an event has {string.Join(", ", allowed)}.");
        }

        var errorsBefore = _errors.Count;
        var unit = serial ?? ReadSerial(element, at("serial"));
        var eventId = ReadEventId(element, at("eventId"));
        var occurredAt = ReadOccurredAt(element, at("occurredAt"));
        var type = ReadType(element, at("type"));
        IUnitEvent? data = null;
        if (type is not null) data = ReadData(element, type, at("data"));
        if (_errors.Count > errorsBefore || unit is null || type is null || data is null || occurredAt is null)
        {
            // Its data is still checked, so that the answer names every field that is wrong, not only those read first.
            if (data is not null) _partlyRead.Add(new PartlyReadEvent(path, data));
            return null;
        }

        return new ProposedEvent(index, path, unit.Value, eventId, type, data, occurredAt.Value);
    }

    private static readonly string[] UnitFields = ["eventId", "type", "occurredAt", "data"];
    private static readonly string[] BatchFields = ["serial", "eventId", "type", "occurredAt", "data"];

    private Serial? ReadSerial(JsonElement element, string path)
    {
        if (!element.TryGetProperty("serial", out var value) || value.ValueKind != JsonValueKind.String)
        {
            Add(path, "Required: the unit's serial number as a string.");
            return null;
        }

        if (Serial.TryParse(value.GetString(), out var serial, out var error)) return serial;
        Add(path, error ?? "Not a valid serial number.");
        return null;
    }

    private Guid? ReadEventId(JsonElement element, string path)
    {
        if (!element.TryGetProperty("eventId", out var value) || value.ValueKind == JsonValueKind.Null) return null;
        if (value.ValueKind == JsonValueKind.String && Guid.TryParseExact(value.GetString(), "D", out var id) && id != Guid.Empty) return id;
        Add(path, "Must be a UUID such as 0193a5e4-7c1f-7cc3-9a36-5d3d2b1f8e10 (or left out).");
        return null;
    }

    private DateTimeOffset? ReadOccurredAt(JsonElement element, string path)
    {
        if (!element.TryGetProperty("occurredAt", out var value) || value.ValueKind != JsonValueKind.String)
        {
            Add(path, "Required: when it happened, as an RFC 3339 date-time with an offset (2025-02-11T08:30:00+08:00).");
            return null;
        }

        var text = value.GetString()!;
        if (Rfc3339().IsMatch(text)
            && DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.None, out var occurredAt))
        {
            return occurredAt;
        }

        Add(path, $"'{Truncate(text)}' is not an RFC 3339 date-time with an offset (2025-02-11T08:30:00Z).");
        return null;
    }

    private UnitEventType? ReadType(JsonElement element, string path)
    {
        if (!element.TryGetProperty("type", out var value) || value.ValueKind != JsonValueKind.String)
        {
            Add(path, $"Required: one of {string.Join(", ", UnitEvents.All.Select(t => t.ApiName))}.");
            return null;
        }

        if (UnitEvents.TryFindByApiName(value.GetString(), out var type)) return type;
        Add(path, $"Unknown event type '{Truncate(value.GetString()!)}'; use one of {string.Join(", ", UnitEvents.All.Select(t => t.ApiName))}.");
        return null;
    }

    private IUnitEvent? ReadData(JsonElement element, UnitEventType type, string path)
    {
        if (!element.TryGetProperty("data", out var value) || value.ValueKind != JsonValueKind.Object)
        {
            Add(path, $"Required: the {type.ApiName} data as a JSON object.");
            return null;
        }

        try
        {
            return type.Deserialize(value);
        }
        catch (JsonException e)
        {
            // The serializer's path is "$.field"; name the field the way the sender wrote it.
            var field = e.Path is { Length: > 2 } jsonPath ? path + jsonPath[1..] : path;
            Add(field, ShapeMessage(e));
            return null;
        }
    }

    private static string ShapeMessage(JsonException e)
    {
        // System.Text.Json's messages name .NET types; keep the first sentence, which says what is wrong.
        var message = e.Message;
        var cut = message.IndexOf(". Path:", StringComparison.Ordinal);
        return cut > 0 ? message[..(cut + 1)] : message;
    }

    private static string Truncate(string text) => text.Length <= 40 ? text : text[..40] + "…";

    [GeneratedRegex(@"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$")]
    private static partial Regex Rfc3339();
}
