namespace Ledger.Production.Units;

/// <summary>
/// An event with the moment it happened, according to the line system that sent it. The rules need both; the store keeps
/// <see cref="OccurredAt"/> beside the payload, not in it.
/// </summary>
public sealed record OccurredEvent(IUnitEvent Event, DateTimeOffset OccurredAt);
