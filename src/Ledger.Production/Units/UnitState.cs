namespace Ledger.Production.Units;

/// <summary>Where a unit is in its life (docs/domain.md, "State machine").</summary>
/// <remarks>Not called UnitStatus: that name belongs to the read model that answers "what is unit X's status".</remarks>
public enum UnitStage
{
    /// <summary>The stream has no events.</summary>
    NotBuilt = 0,
    Built,
    Passed,
    Failed,
    Reworked,
    InTransit,
    Delivered,
    Commissioned,
    Scrapped,
}

/// <summary>The shipment a unit is on (or, once delivered, arrived with), with its derived market region.</summary>
public sealed record Shipment(
    string ShipmentId, string Carrier, Destination Destination, string Region, DateTimeOffset ShippedAt);

/// <summary>
/// What the rules know about one unit: the fold of its stream by <see cref="UnitRules.Evolve"/>. Plain data; a value
/// equal to another state is the same state.
/// </summary>
public sealed record UnitState
{
    /// <summary>The state of a stream with no events.</summary>
    public static UnitState Initial { get; } = new();

    public UnitStage Stage { get; init; }

    public string? FactoryId { get; init; }
    public string? Line { get; init; }
    public string? Model { get; init; }
    public decimal? NameplateKwh { get; init; }

    /// <summary>The most recent test, whatever its result; it alone decides whether the unit may ship.</summary>
    public UnitTested? LatestTest { get; init; }

    /// <summary>The current shipment while in transit, and the one that delivered the unit afterwards; null in stock.</summary>
    public Shipment? Shipment { get; init; }

    /// <summary>The site the unit was delivered to (and so where it may be commissioned).</summary>
    public string? Site { get; init; }

    public DateTimeOffset? BuiltAt { get; init; }
    public DateTimeOffset? TestedAt { get; init; }
    public DateTimeOffset? ReworkedAt { get; init; }
    public DateTimeOffset? DeliveredAt { get; init; }
    public DateTimeOffset? CommissionedAt { get; init; }
    public DateTimeOffset? ScrappedAt { get; init; }

    /// <summary>When the stream's latest event happened; no later event may claim an earlier moment.</summary>
    public DateTimeOffset? LastOccurredAt { get; init; }

    /// <summary>
    /// How many events the stream holds: 0 for a new unit, and the stream version of its latest event, so that
    /// <c>ExpectedVersion.Exactly(state.Version)</c> is the right expectation for the next append.
    /// </summary>
    public long Version { get; init; }

    /// <summary>The market region of the current (or delivering) shipment's destination.</summary>
    public string? Region => Shipment?.Region;
}
