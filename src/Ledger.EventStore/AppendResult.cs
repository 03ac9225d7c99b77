namespace Ledger.EventStore;

/// <summary>Where one appended event landed.</summary>
public readonly record struct AppendedEvent(Guid EventId, long StreamVersion, long Position);

/// <summary>The outcome of appending to one stream.</summary>
/// <param name="StreamId">The stream.</param>
/// <param name="Version">The stream's version after the append (the version of its last appended event).</param>
/// <param name="Events">Each appended event, in order.</param>
/// <param name="Replayed">True when every event was already stored by an earlier identical append: nothing was written.</param>
public sealed record AppendResult(string StreamId, long Version, IReadOnlyList<AppendedEvent> Events, bool Replayed);
