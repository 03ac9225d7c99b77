namespace Ledger.Production.Units;

/// <summary>
/// Every reason the unit's rules refuse an event, as the stable code clients program against (docs/domain.md, "Rules").
/// A code, once published, keeps its meaning; a new kind of refusal gets a new code.
/// </summary>
public static class RejectionCodes
{
    /// <summary>A second <c>UnitBuilt</c> in a stream that already has one.</summary>
    public const string UnitAlreadyBuilt = "unit-already-built";

    /// <summary>Anything but <c>UnitBuilt</c> as the first event of a stream.</summary>
    public const string UnitNotBuilt = "unit-not-built";

    /// <summary>Anything after <c>UnitScrapped</c>.</summary>
    public const string UnitScrapped = "unit-scrapped";

    /// <summary>A test, rework or second shipment while the unit is in transit.</summary>
    public const string UnitInTransit = "unit-in-transit";

    /// <summary>A test, rework or shipment after the unit was delivered (or commissioned).</summary>
    public const string UnitDelivered = "unit-delivered";

    /// <summary>A second <c>UnitCommissioned</c>.</summary>
    public const string UnitAlreadyCommissioned = "unit-already-commissioned";

    /// <summary>A shipment when the latest test did not pass (never tested, failed, or reworked and not yet retested).</summary>
    public const string TestNotPassed = "test-not-passed";

    /// <summary>A rework when the latest test did not fail.</summary>
    public const string TestNotFailed = "test-not-failed";

    /// <summary>A retest of a unit whose latest test failed, with no rework recorded in between.</summary>
    public const string ReworkRequired = "rework-required";

    /// <summary>A cancellation or delivery when the unit is not in transit.</summary>
    public const string NotInTransit = "not-in-transit";

    /// <summary>A cancellation naming a shipment other than the unit's current one.</summary>
    public const string ShipmentMismatch = "shipment-mismatch";

    /// <summary>A delivery to a site other than the shipment's destination site.</summary>
    public const string DeliverySiteMismatch = "delivery-site-mismatch";

    /// <summary>A commissioning before the unit was delivered.</summary>
    public const string NotDelivered = "not-delivered";

    /// <summary>A commissioning at a site other than the one the unit was delivered to.</summary>
    public const string CommissioningSiteMismatch = "commissioning-site-mismatch";

    /// <summary>An <c>occurredAt</c> earlier than that of the stream's latest event.</summary>
    public const string OccurredBeforePreviousEvent = "occurred-before-previous-event";

    /// <summary>An <c>occurredAt</c> more than <see cref="UnitRules.MaxClockSkew"/> after the ledger's clock.</summary>
    public const string OccurredInFuture = "occurred-in-future";

    /// <summary>A build at a factory the registry does not know.</summary>
    public const string UnknownFactory = "unknown-factory";

    /// <summary>A build at a factory that is not producing (planned, under construction, closed).</summary>
    public const string FactoryNotProducing = "factory-not-producing";

    /// <summary>A build that occurred before its factory's production start.</summary>
    public const string BuiltBeforeProductionStart = "built-before-production-start";

    /// <summary>Every code, for documentation and for tests that keep docs/domain.md honest.</summary>
    public static IReadOnlyList<string> All { get; } =
    [
        UnitAlreadyBuilt, UnitNotBuilt, UnitScrapped, UnitInTransit, UnitDelivered, UnitAlreadyCommissioned,
        TestNotPassed, TestNotFailed, ReworkRequired, NotInTransit, ShipmentMismatch, DeliverySiteMismatch, NotDelivered,
        CommissioningSiteMismatch, OccurredBeforePreviousEvent, OccurredInFuture, UnknownFactory, FactoryNotProducing,
        BuiltBeforeProductionStart,
    ];
}
