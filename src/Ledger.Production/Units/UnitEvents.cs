using System.Collections.Frozen;
using System.Diagnostics.CodeAnalysis;
using System.Text.Json;

namespace Ledger.Production.Units;

/// <summary>One kind of unit event under its three names.</summary>
/// <param name="ApiName">What the HTTP API's <c>type</c> field says (<c>UnitBuilt</c>).</param>
/// <param name="StoredName">What the event store records (<c>unit-built.v1</c>); never changes once events exist.</param>
/// <param name="ClrType">The record the JSON <c>data</c> deserializes into.</param>
public sealed record UnitEventType(string ApiName, string StoredName, Type ClrType)
{
    /// <summary>
    /// Reads an event's <c>data</c> object. Throws <see cref="JsonException"/> for JSON that is not this event's shape:
    /// not an object, a field of the wrong JSON type, a missing number or result, or a field the event does not have.
    /// Missing strings read as null and are reported by the validator instead.
    /// </summary>
    public IUnitEvent Deserialize(JsonElement data) =>
        data.ValueKind == JsonValueKind.Object
            ? (IUnitEvent)data.Deserialize(ClrType, UnitEvents.JsonOptions)!
            : throw new JsonException($"The data of a {ApiName} event must be a JSON object, not {data.ValueKind}.");

    /// <inheritdoc cref="Deserialize(JsonElement)"/>
    public IUnitEvent Deserialize(string data)
    {
        ArgumentNullException.ThrowIfNull(data);
        // Straight from the text when it is an object: parsing a JsonDocument first made every read of history (live
        // projections, time travel, rebuilds) pay for two parses (docs/benchmarks.md, "Rebuilds"). Anything else takes
        // the element path, for its error.
        if (data.AsSpan().TrimStart(" \t\r\n") is not ['{', ..])
        {
            using var document = JsonDocument.Parse(data);
            return Deserialize(document.RootElement);
        }

        return (IUnitEvent)JsonSerializer.Deserialize(data, ClrType, UnitEvents.JsonOptions)!;
    }
}

/// <summary>
/// The catalogue of unit events: API type name, stored type name and CLR type, each way round. Renaming a record changes
/// none of the names outside this process; a new version of an event's shape gets a new stored name (<c>.v2</c>) and an
/// upcaster, never an edit of the old one.
/// </summary>
public static class UnitEvents
{
    public static UnitEventType UnitBuilt { get; } = new("UnitBuilt", "unit-built.v1", typeof(UnitBuilt));
    public static UnitEventType UnitTested { get; } = new("UnitTested", "unit-tested.v1", typeof(UnitTested));
    public static UnitEventType UnitReworked { get; } = new("UnitReworked", "unit-reworked.v1", typeof(UnitReworked));
    public static UnitEventType UnitShipped { get; } = new("UnitShipped", "unit-shipped.v1", typeof(UnitShipped));

    public static UnitEventType ShipmentCancelled { get; } =
        new("ShipmentCancelled", "shipment-cancelled.v1", typeof(ShipmentCancelled));

    public static UnitEventType UnitDelivered { get; } = new("UnitDelivered", "unit-delivered.v1", typeof(UnitDelivered));

    public static UnitEventType UnitCommissioned { get; } =
        new("UnitCommissioned", "unit-commissioned.v1", typeof(UnitCommissioned));

    public static UnitEventType UnitScrapped { get; } = new("UnitScrapped", "unit-scrapped.v1", typeof(UnitScrapped));

    /// <summary>Every unit event, in the order of a unit's life.</summary>
    public static IReadOnlyList<UnitEventType> All { get; } =
    [
        UnitBuilt, UnitTested, UnitReworked, UnitShipped, ShipmentCancelled, UnitDelivered, UnitCommissioned,
        UnitScrapped,
    ];

    // API names are matched exactly: the HTTP contract documents one spelling, and accepting "unitbuilt" today would make
    // it impossible to stop accepting it later.
    private static readonly FrozenDictionary<string, UnitEventType> ByApiName =
        All.ToFrozenDictionary(t => t.ApiName, StringComparer.Ordinal);

    private static readonly FrozenDictionary<string, UnitEventType> ByStoredName =
        All.ToFrozenDictionary(t => t.StoredName, StringComparer.Ordinal);

    private static readonly FrozenDictionary<Type, UnitEventType> ByClrType = All.ToFrozenDictionary(t => t.ClrType);

    /// <summary>Each event's record type → its stored name: the event store's type map (Marten's event type aliases).</summary>
    public static IReadOnlyDictionary<Type, string> StoredNamesByType { get; } = All.ToFrozenDictionary(t => t.ClrType, t => t.StoredName);

    // The property names, enum spellings and required fields are pinned by attributes on the records; these options only
    // need to be the defaults (strict number handling, case-sensitive names), whatever the host configures elsewhere.
    internal static JsonSerializerOptions JsonOptions { get; } = new();

    /// <summary>
    /// The event's <c>data</c> as JSON text. Serializing through the interface type would write <c>{}</c>; this uses the
    /// event's own type.
    /// </summary>
    public static string Serialize(IUnitEvent @event) =>
        JsonSerializer.Serialize(@event, Of(@event).ClrType, JsonOptions);

    public static bool TryFindByApiName([NotNullWhen(true)] string? apiName, [NotNullWhen(true)] out UnitEventType? type)
    {
        type = null;
        return apiName is not null && ByApiName.TryGetValue(apiName, out type);
    }

    public static bool TryFindByStoredName(
        [NotNullWhen(true)] string? storedName, [NotNullWhen(true)] out UnitEventType? type)
    {
        type = null;
        return storedName is not null && ByStoredName.TryGetValue(storedName, out type);
    }

    /// <summary>The catalogue entry of an event; throws for a type that is not a catalogued unit event.</summary>
    public static UnitEventType Of(IUnitEvent @event)
    {
        ArgumentNullException.ThrowIfNull(@event);
        return Of(@event.GetType());
    }

    public static UnitEventType Of<TEvent>() where TEvent : IUnitEvent => Of(typeof(TEvent));

    public static UnitEventType Of(Type clrType) =>
        ByClrType.TryGetValue(clrType, out var type)
            ? type
            : throw new ArgumentException($"{clrType} is not a catalogued unit event.", nameof(clrType));
}
