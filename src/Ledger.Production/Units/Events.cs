using System.Text.Json.Serialization;

namespace Ledger.Production.Units;

// The JSON names are pinned with attributes rather than left to a naming policy: they are the stored history and the HTTP
// contract, and must not change with whoever's JsonSerializerOptions happen to be in use. Value-typed fields that must be
// present are [JsonRequired] because a missing number would otherwise deserialize as 0, which passes range checks.
// Unknown fields are refused rather than dropped: a misspelt optional field ("staton") would otherwise vanish from the
// record without anyone noticing. When (occurredAt) and who are not part of an event's data: they travel beside it (see
// OccurredEvent and the store's metadata).

/// <summary>An event in a Megapack unit's stream. See <see cref="UnitEvents"/> for the names each is stored and posted as.</summary>
public interface IUnitEvent;

/// <summary>The unit came off a factory line. Always the first event of a stream.</summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record UnitBuilt(
    [property: JsonPropertyName("factoryId")] string FactoryId,
    [property: JsonPropertyName("line")] string Line,
    [property: JsonPropertyName("model")] string Model,
    [property: JsonPropertyName("nameplateKwh"), JsonRequired] decimal NameplateKwh) : IUnitEvent;

/// <summary>The outcome of an end-of-line test.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<TestOutcome>))]
public enum TestOutcome
{
    // No zero member: a result the sender never set must fail validation, not read as a pass.
    [JsonStringEnumMemberName("passed")] Passed = 1,
    [JsonStringEnumMemberName("failed")] Failed = 2,
}

/// <summary>The unit was tested at a station. <paramref name="FailureCode"/> is present exactly when the test failed.</summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record UnitTested(
    [property: JsonPropertyName("station")] string Station,
    [property: JsonPropertyName("result"), JsonRequired] TestOutcome Result,
    [property: JsonPropertyName("measuredKwh"), JsonRequired] decimal MeasuredKwh,
    [property: JsonPropertyName("roundTripEfficiency"), JsonRequired] decimal RoundTripEfficiency,
    [property: JsonPropertyName("failureCode"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    string? FailureCode = null) : IUnitEvent
{
    [JsonIgnore]
    public bool Passed => Result == TestOutcome.Passed;
}

/// <summary>A unit that failed its test was repaired (or found fault-free) and now needs a retest.</summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record UnitReworked(
    [property: JsonPropertyName("reason")] string Reason,
    [property: JsonPropertyName("station"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    string? Station = null) : IUnitEvent;

/// <summary>Where a shipment is going. <see cref="Country"/> is an ISO 3166-1 alpha-2 code, held upper-case.</summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record Destination(
    string Country,
    [property: JsonPropertyName("site")] string Site)
{
    // Normalised here, not in the HTTP layer, so that every way of creating a destination (JSON, code, `with`) stores
    // "DE" and the region table never sees "de". Only ASCII is folded: "ſe" must stay invalid rather than become "SE"
    // (see Text). Null stays null for the validator to report.
    [JsonPropertyName("country"), JsonPropertyOrder(-1)]
    public string Country { get; init => field = Text.TrimAndUpperAscii(value)!; } = Text.TrimAndUpperAscii(Country)!;
}

/// <summary>The unit left for a destination as part of a shipment (one shipment usually carries many units).</summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record UnitShipped(
    [property: JsonPropertyName("destination")] Destination Destination,
    [property: JsonPropertyName("carrier")] string Carrier,
    [property: JsonPropertyName("shipmentId")] string ShipmentId) : IUnitEvent;

/// <summary>The unit's current shipment was called off; the unit is back in stock, still passed.</summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record ShipmentCancelled(
    [property: JsonPropertyName("shipmentId")] string ShipmentId,
    [property: JsonPropertyName("reason")] string Reason) : IUnitEvent;

/// <summary>The unit arrived at the site its shipment was going to.</summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record UnitDelivered(
    [property: JsonPropertyName("site")] string Site) : IUnitEvent;

/// <summary>The unit was connected to the grid at the site it was delivered to.</summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record UnitCommissioned(
    [property: JsonPropertyName("site")] string Site) : IUnitEvent;

/// <summary>The unit was written off. Nothing can happen to it afterwards.</summary>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record UnitScrapped(
    [property: JsonPropertyName("reason")] string Reason) : IUnitEvent;
