namespace Ledger.Api.Features.Units.RecordEvents;

/// <summary>Where one posted event landed.</summary>
/// <param name="Index">Its place in the request.</param>
/// <param name="EventId">Its id (the sender's, or the one the ledger gave it).</param>
/// <param name="Type">Its type.</param>
/// <param name="Version">Its version in the unit's stream.</param>
/// <param name="Position">Its global position: pass it as <c>minPosition</c> to read your own writes.</param>
public sealed record RecordedEventReceipt(int Index, Guid EventId, string Type, long Version, long Position);

/// <summary>A unit after a successful post.</summary>
/// <param name="Serial">The unit.</param>
/// <param name="Version">The unit's stream version now (also the ETag).</param>
/// <param name="Position">The highest global position written for it.</param>
/// <param name="Events">Each posted event.</param>
public sealed record UnitReceipt(string Serial, long Version, long Position, IReadOnlyList<RecordedEventReceipt> Events);

/// <summary>The answer to a batch across units.</summary>
/// <param name="Units">Each unit touched, in the order the request first named it.</param>
/// <param name="Position">The highest global position written.</param>
public sealed record BatchReceipt(IReadOnlyList<UnitReceipt> Units, long Position);
