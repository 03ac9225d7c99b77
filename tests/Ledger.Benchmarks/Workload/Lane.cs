using System.Buffers;
using System.Text.Json;
using Ledger.Production.Factories;
using Ledger.Production.Units;

namespace Ledger.Benchmarks.Workload;

/// <summary>
/// One line system of one factory: the lives of the units it was handed, merged into one stream in the order things
/// happened, as a factory's MES would post them. A lane is used by one client connection at a time, which keeps each
/// unit's events in order (the service would refuse a test before its build).
/// </summary>
internal sealed class Lane(MegapackHistory history, Factory factory)
{
    private readonly PriorityQueue<UnitCursor, DateTimeOffset> _inProgress = new();
    private PlannedUnit? _nextUnit;

    public Factory Factory { get; } = factory;

    /// <summary>The next event in time order; the lane takes new units from the plan as their build time comes.</summary>
    public PlannedEvent Next()
    {
        _nextUnit ??= history.NextUnit(Factory);
        while (!_inProgress.TryPeek(out _, out var earliest) || _nextUnit.BuiltAt <= earliest)
        {
            var life = history.Life(_nextUnit);
            _inProgress.Enqueue(new UnitCursor(life), life[0].OccurredAt);
            _nextUnit = history.NextUnit(Factory);
        }

        var unit = _inProgress.Dequeue();
        var next = unit.Events[unit.Index++];
        if (unit.Index < unit.Events.Count) _inProgress.Enqueue(unit, unit.Events[unit.Index].OccurredAt);
        return next;
    }

    public List<PlannedEvent> Take(int count)
    {
        var events = new List<PlannedEvent>(count);
        for (var i = 0; i < count; i++) events.Add(Next());
        return events;
    }

    private sealed class UnitCursor(IReadOnlyList<PlannedEvent> events)
    {
        public IReadOnlyList<PlannedEvent> Events { get; } = events;
        public int Index { get; set; }
    }
}

/// <summary>Request bodies in the shape of docs/api.md, with client-chosen event ids (the guide's safe-retry advice).</summary>
internal static class EventJson
{
    /// <summary>The body of <c>POST /api/v1/events</c>: <c>{"events": [ ... ]}</c>, each event naming its serial.</summary>
    public static byte[] Batch(IReadOnlyList<PlannedEvent> events)
    {
        var buffer = new ArrayBufferWriter<byte>(events.Count * 320);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteStartArray("events");
            foreach (var e in events) Write(writer, e, withSerial: true);
            writer.WriteEndArray();
            writer.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>The body of <c>POST /api/v1/units/{serial}/events</c> with one event.</summary>
    public static byte[] Single(PlannedEvent e)
    {
        var buffer = new ArrayBufferWriter<byte>(320);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            Write(writer, e, withSerial: false);
        }

        return buffer.WrittenSpan.ToArray();
    }

    private static void Write(Utf8JsonWriter writer, PlannedEvent e, bool withSerial)
    {
        writer.WriteStartObject();
        if (withSerial) writer.WriteString("serial", e.Serial);
        writer.WriteString("eventId", Guid.CreateVersion7());
        writer.WriteString("type", UnitEvents.Of(e.Event).ApiName);
        writer.WriteString("occurredAt", e.OccurredAt);
        writer.WritePropertyName("data");
        writer.WriteRawValue(UnitEvents.Serialize(e.Event), skipInputValidation: true);
        writer.WriteEndObject();
    }
}
