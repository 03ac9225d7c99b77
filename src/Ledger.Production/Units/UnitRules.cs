using Ledger.Production.Factories;
using Ledger.Production.Geography;

namespace Ledger.Production.Units;

/// <summary>
/// A Megapack unit's rules as pure functions: <see cref="Decide"/> whether a proposed event may be appended to the
/// unit's stream, and <see cref="Evolve"/> the state by an event that was. docs/domain.md lists every rule.
/// </summary>
public static class UnitRules
{
    /// <summary>
    /// How far ahead of the ledger's clock an <c>occurredAt</c> may be. Line systems' clocks drift; anything further ahead
    /// is a wrong clock or a wrong time zone, and would block every honest event after it (occurredAt never goes back).
    /// </summary>
    public static readonly TimeSpan MaxClockSkew = TimeSpan.FromMinutes(5);

    /// <summary>The state after <paramref name="history"/>, oldest first.</summary>
    public static UnitState Fold(IEnumerable<OccurredEvent> history)
    {
        ArgumentNullException.ThrowIfNull(history);
        return history.Aggregate(UnitState.Initial, Evolve);
    }

    /// <summary>
    /// The state after <paramref name="occurred"/>. Total: history is the truth, so an event is applied even if today's
    /// rules would refuse it (it was accepted under the rules of its day).
    /// </summary>
    public static UnitState Evolve(UnitState state, OccurredEvent occurred)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(occurred);
        var at = occurred.OccurredAt;

        var next = occurred.Event switch
        {
            UnitBuilt e => state with
            {
                Stage = UnitStage.Built,
                FactoryId = e.FactoryId,
                Line = e.Line,
                Model = e.Model,
                NameplateKwh = e.NameplateKwh,
                BuiltAt = at,
            },
            UnitTested e => state with
            {
                Stage = e.Passed ? UnitStage.Passed : UnitStage.Failed,
                LatestTest = e,
                TestedAt = at,
            },
            UnitReworked => state with { Stage = UnitStage.Reworked, ReworkedAt = at },
            UnitShipped e => state with
            {
                Stage = UnitStage.InTransit,
                Shipment = new Shipment(
                    e.ShipmentId, e.Carrier, e.Destination, MarketRegions.Of(e.Destination.Country), at),
            },
            // Only a passed unit ships, so cancelling puts it back in stock as passed.
            ShipmentCancelled => state with { Stage = UnitStage.Passed, Shipment = null },
            UnitDelivered e => state with { Stage = UnitStage.Delivered, Site = e.Site, DeliveredAt = at },
            UnitCommissioned => state with { Stage = UnitStage.Commissioned, CommissionedAt = at },
            UnitScrapped => state with { Stage = UnitStage.Scrapped, ScrappedAt = at },
            _ => throw NotCatalogued(occurred.Event),
        };

        return next with { LastOccurredAt = at, Version = state.Version + 1 };
    }

    /// <summary>
    /// Whether <paramref name="proposed"/> may be appended to a stream in <paramref name="state"/>. Assumes the payload
    /// passed its validator (<see cref="Validation.UnitEventValidator"/>); checks the lifecycle first, then time, then
    /// the factory, and reports the first rule broken.
    /// </summary>
    /// <param name="state">The fold of the stream so far.</param>
    /// <param name="proposed">The event and when it happened.</param>
    /// <param name="now">The ledger's clock (the host's <see cref="TimeProvider"/>), never the sender's.</param>
    /// <param name="factories">The factory registry, consulted for <see cref="UnitBuilt"/>.</param>
    public static Decision Decide(
        UnitState state, OccurredEvent proposed, DateTimeOffset now, IFactoryRegistry factories)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(proposed);
        ArgumentNullException.ThrowIfNull(factories);

        var decision = DecideLifecycle(state, proposed.Event);
        if (decision.IsAccepted)
        {
            decision = DecideTime(state, proposed.OccurredAt, now);
        }

        if (decision.IsAccepted && proposed.Event is UnitBuilt built)
        {
            decision = DecideFactory(built, proposed.OccurredAt, factories);
        }

        return decision;
    }

    /// <summary>
    /// Decides several events for one unit in order, each against the state the ones before it produce, as one
    /// all-or-nothing batch would be appended. Stops at the first refusal.
    /// </summary>
    public static BatchDecision DecideBatch(
        UnitState state, IReadOnlyList<OccurredEvent> proposed, DateTimeOffset now, IFactoryRegistry factories)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(proposed);

        for (var i = 0; i < proposed.Count; i++)
        {
            var decision = Decide(state, proposed[i], now, factories);
            if (!decision.IsAccepted)
            {
                return new BatchDecision(state, i, decision.Rejection);
            }

            state = Evolve(state, proposed[i]);
        }

        return new BatchDecision(state, null, null);
    }

    private static Decision DecideLifecycle(UnitState state, IUnitEvent proposed) => (proposed, state.Stage) switch
    {
        (UnitBuilt, UnitStage.NotBuilt) => Decision.Accepted,
        (UnitBuilt, _) => Decision.Reject(
            RejectionCodes.UnitAlreadyBuilt, $"The unit was already built, at {state.FactoryId} on {state.BuiltAt:O}."),
        (_, UnitStage.NotBuilt) => Decision.Reject(
            RejectionCodes.UnitNotBuilt, $"The unit has no history; its first event must be {UnitEvents.UnitBuilt.ApiName}."),
        (_, UnitStage.Scrapped) => Decision.Reject(
            RejectionCodes.UnitScrapped, $"The unit was scrapped on {state.ScrappedAt:O}; nothing can happen to it now."),

        (UnitTested, UnitStage.Built or UnitStage.Passed or UnitStage.Reworked) => Decision.Accepted,
        (UnitTested, UnitStage.Failed) => Decision.Reject(
            RejectionCodes.ReworkRequired,
            $"The unit failed its latest test ({state.LatestTest?.FailureCode}); record its rework before retesting it."),
        (UnitTested, _) => NotAtTheFactory(state, "tested"),

        (UnitReworked, UnitStage.Failed or UnitStage.Reworked) => Decision.Accepted,
        (UnitReworked, UnitStage.Built or UnitStage.Passed) => Decision.Reject(
            RejectionCodes.TestNotFailed, "Only a unit whose latest test failed can be reworked."),
        (UnitReworked, _) => NotAtTheFactory(state, "reworked"),

        (UnitShipped, UnitStage.Passed) => Decision.Accepted,
        (UnitShipped, UnitStage.Built or UnitStage.Failed or UnitStage.Reworked) => Decision.Reject(
            RejectionCodes.TestNotPassed, state.Stage switch
            {
                UnitStage.Built => "The unit has not been tested; only a unit whose latest test passed can ship.",
                UnitStage.Failed => "The unit failed its latest test; only a unit whose latest test passed can ship.",
                _ => "The unit was reworked and has not been retested; only a unit whose latest test passed can ship.",
            }),
        (UnitShipped, _) => NotAtTheFactory(state, "shipped"),

        (ShipmentCancelled e, UnitStage.InTransit) => e.ShipmentId == state.Shipment?.ShipmentId
            ? Decision.Accepted
            : Decision.Reject(
                RejectionCodes.ShipmentMismatch,
                $"The unit is on shipment '{state.Shipment?.ShipmentId}', not '{e.ShipmentId}'."),
        (ShipmentCancelled, _) => Decision.Reject(
            RejectionCodes.NotInTransit, $"Only a shipment in transit can be cancelled; the unit is {Describe(state.Stage)}."),

        (UnitDelivered e, UnitStage.InTransit) => SameSite(e.Site, state.Shipment?.Destination.Site)
            ? Decision.Accepted
            : Decision.Reject(
                RejectionCodes.DeliverySiteMismatch,
                $"The unit's shipment is going to '{state.Shipment?.Destination.Site}', not '{e.Site}'. " +
                $"A diverted unit's shipment is cancelled and a new one recorded before delivery."),
        (UnitDelivered, _) => Decision.Reject(
            RejectionCodes.NotInTransit, $"Only a unit in transit can be delivered; the unit is {Describe(state.Stage)}."),

        (UnitCommissioned e, UnitStage.Delivered) => SameSite(e.Site, state.Site)
            ? Decision.Accepted
            : Decision.Reject(
                RejectionCodes.CommissioningSiteMismatch,
                $"The unit was delivered to '{state.Site}', not '{e.Site}'."),
        (UnitCommissioned, UnitStage.Commissioned) => Decision.Reject(
            RejectionCodes.UnitAlreadyCommissioned, $"The unit was already commissioned on {state.CommissionedAt:O}."),
        (UnitCommissioned, _) => Decision.Reject(
            RejectionCodes.NotDelivered, $"Only a delivered unit can be commissioned; the unit is {Describe(state.Stage)}."),

        // A unit can be written off anywhere: damaged on the line, lost at sea, or decommissioned at the end of its life.
        (UnitScrapped, _) => Decision.Accepted,

        _ => throw NotCatalogued(proposed),
    };

    private static Decision NotAtTheFactory(UnitState state, string verb) => state.Stage == UnitStage.InTransit
        ? Decision.Reject(
            RejectionCodes.UnitInTransit,
            $"The unit is in transit on shipment '{state.Shipment?.ShipmentId}' and cannot be {verb}.")
        : Decision.Reject(
            RejectionCodes.UnitDelivered, $"The unit was delivered on {state.DeliveredAt:O} and cannot be {verb}.");

    private static Decision DecideTime(UnitState state, DateTimeOffset occurredAt, DateTimeOffset now)
    {
        if (occurredAt < state.LastOccurredAt)
        {
            return Decision.Reject(
                RejectionCodes.OccurredBeforePreviousEvent,
                $"occurredAt {occurredAt:O} is earlier than the unit's latest event ({state.LastOccurredAt:O}). " +
                "Events are recorded in the order they happened.");
        }

        if (occurredAt > now + MaxClockSkew)
        {
            return Decision.Reject(
                RejectionCodes.OccurredInFuture,
                $"occurredAt {occurredAt:O} is more than {MaxClockSkew.TotalMinutes} minutes after the ledger's clock " +
                $"({now:O}).");
        }

        return Decision.Accepted;
    }

    private static Decision DecideFactory(UnitBuilt built, DateTimeOffset occurredAt, IFactoryRegistry factories)
    {
        if (!factories.TryFind(built.FactoryId, out var factory))
        {
            return Decision.Reject(
                RejectionCodes.UnknownFactory,
                $"There is no factory '{built.FactoryId}'. Known factories: " +
                $"{string.Join(", ", factories.All.Select(f => f.Id))}.");
        }

        if (factory.Status != FactoryStatus.Producing)
        {
            return Decision.Reject(
                RejectionCodes.FactoryNotProducing, $"Factory '{factory.Id}' is {Describe(factory.Status)}, not producing.");
        }

        if (occurredAt < factory.ProductionStartedAt)
        {
            return Decision.Reject(
                RejectionCodes.BuiltBeforeProductionStart,
                $"Factory '{factory.Id}' started production on {factory.ProductionStarted:yyyy-MM-dd} " +
                $"({factory.TimeZoneId}); occurredAt {occurredAt:O} is earlier.");
        }

        return Decision.Accepted;
    }

    // Sites are names typed by people at docks and on site; "Moss Landing" and "moss landing" are one place.
    private static bool SameSite(string proposed, string? expected) =>
        string.Equals(proposed, expected, StringComparison.OrdinalIgnoreCase);

    private static string Describe(UnitStage stage) => stage switch
    {
        UnitStage.NotBuilt => "not built",
        UnitStage.Built => "built and not yet tested",
        UnitStage.Passed => "in stock, passed",
        UnitStage.Failed => "failed in test",
        UnitStage.Reworked => "reworked and not yet retested",
        UnitStage.InTransit => "in transit",
        _ => stage.ToString().ToLowerInvariant(),
    };

    private static string Describe(FactoryStatus status) => status switch
    {
        FactoryStatus.UnderConstruction => "under construction",
        _ => status.ToString().ToLowerInvariant(),
    };

    private static ArgumentException NotCatalogued(IUnitEvent @event) =>
        new($"{@event.GetType()} is not a catalogued unit event.", nameof(@event));
}
