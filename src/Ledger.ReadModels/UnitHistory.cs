using Ledger.EventStore;
using Ledger.Production.Units;

namespace Ledger.ReadModels;

/// <summary>A unit's stream read back into the domain's terms.</summary>
public static class UnitHistory
{
    /// <summary>The unit's state after its stored events.</summary>
    public static UnitState Fold(IEnumerable<RecordedEvent> events) =>
        events.Aggregate(UnitState.Initial, (state, e) => UnitRules.Evolve(state, ToOccurred(e)));

    /// <summary>A stored event as the domain's event and the time it occurred.</summary>
    public static OccurredEvent ToOccurred(RecordedEvent e) =>
        UnitEvents.TryFindByStoredName(e.Type, out var type)
            ? new OccurredEvent(type.Deserialize(e.Data), e.OccurredAt)
            : throw new InvalidOperationException(
                $"Stream {e.StreamId} holds an event of stored type '{e.Type}' that this version of the ledger does not know.");
}
