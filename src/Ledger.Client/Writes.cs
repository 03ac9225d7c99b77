using Ledger.Production.Units;

namespace Ledger.Client;

/// <summary>An event to record for the unit named by the call.</summary>
/// <param name="Data">The event (<see cref="UnitBuilt"/>, <see cref="UnitTested"/>, ...).</param>
/// <param name="OccurredAt">When it happened, with the line system's offset; sent as RFC 3339.</param>
/// <param name="EventId">
/// The line system's id for the fact, if it has one: sending it again is a safe retry forever (docs/api.md, "Retries and
/// idempotency"). Without it, the ledger derives ids from the request's Idempotency-Key.
/// </param>
public sealed record EventToRecord(IUnitEvent Data, DateTimeOffset OccurredAt, Guid? EventId = null);

/// <summary>An event to record in a batch across units.</summary>
/// <param name="Serial">The unit's serial number.</param>
/// <param name="Data">The event.</param>
/// <param name="OccurredAt">When it happened, with the line system's offset; sent as RFC 3339.</param>
/// <param name="EventId">The line system's id for the fact, if it has one (see <see cref="EventToRecord.EventId"/>).</param>
public sealed record UnitEventToRecord(string Serial, IUnitEvent Data, DateTimeOffset OccurredAt, Guid? EventId = null);

/// <summary>How to send one post.</summary>
public sealed record RecordOptions
{
    /// <summary>
    /// The request's <c>Idempotency-Key</c>. When null the client makes one per call, and sends the same one on every
    /// retry of that call, so a retry after a lost answer is answered from the ledger's record instead of writing again.
    /// Give your own to make a retry across process restarts safe too.
    /// </summary>
    public string? IdempotencyKey { get; init; }

    /// <summary>
    /// Record only if the unit's version is this (<c>If-Match</c>; 0: the unit must not exist yet). A different version
    /// is a <see cref="LedgerProblemTypes.PreconditionFailed"/> problem. Single-unit posts only.
    /// </summary>
    public long? ExpectedVersion { get; init; }

    /// <summary>A correlation id to tie the ledger's logs and the events' metadata to yours (<c>X-Correlation-Id</c>).</summary>
    public string? CorrelationId { get; init; }
}

/// <summary>Where one posted event landed.</summary>
/// <param name="Index">Its place in the request.</param>
/// <param name="EventId">Its id (the sender's, or the one the ledger gave it).</param>
/// <param name="Type">Its type (<c>UnitBuilt</c>, ...).</param>
/// <param name="Version">Its version in the unit's stream.</param>
/// <param name="Position">Its global position; pass it as a read's <c>minPosition</c> to read your own write.</param>
public sealed record RecordedEventReceipt(int Index, Guid EventId, string Type, long Version, long Position);

/// <summary>A unit after a successful post.</summary>
/// <param name="Serial">The unit's serial number, normalised.</param>
/// <param name="Version">The unit's version now (its <c>ETag</c>).</param>
/// <param name="Position">The highest global position written for it.</param>
/// <param name="Events">Each posted event of the unit.</param>
public sealed record UnitReceipt(string Serial, long Version, long Position, IReadOnlyList<RecordedEventReceipt> Events);

/// <summary>The answer to a batch across units.</summary>
/// <param name="Units">Each unit touched, in the order the request first named it.</param>
/// <param name="Position">The highest global position written.</param>
public sealed record BatchReceipt(IReadOnlyList<UnitReceipt> Units, long Position);
