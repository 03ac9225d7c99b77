namespace Ledger.EventStore;

/// <summary>Base of the store's own errors.</summary>
public abstract class EventStoreException : Exception
{
    /// <summary>Creates the exception.</summary>
    protected EventStoreException(string message, Exception? inner = null) : base(message, inner) { }
}

/// <summary>A stream was not at the version the writer expected. Nothing was written.</summary>
public sealed class WrongExpectedVersionException : EventStoreException
{
    /// <summary>Creates the exception.</summary>
    public WrongExpectedVersionException(string streamId, ExpectedVersion expected, long actual)
        : base($"Stream '{streamId}' is at version {actual}, but version {expected} was expected.")
        => (StreamId, Expected, Actual) = (streamId, expected, actual);

    /// <summary>The stream.</summary>
    public string StreamId { get; }

    /// <summary>What the writer expected.</summary>
    public ExpectedVersion Expected { get; }

    /// <summary>The stream's actual version when the append was checked.</summary>
    public long Actual { get; }
}

/// <summary>
/// An event id is already stored with different content, in another stream, or at a place that the retried append does
/// not match. Retrying with the same id cannot succeed. Nothing was written.
/// </summary>
public sealed class EventIdConflictException : EventStoreException
{
    /// <summary>Creates the exception.</summary>
    public EventIdConflictException(Guid eventId, string reason)
        : base($"Event {eventId} is already stored and {reason}.")
        => (EventId, Reason) = (eventId, reason);

    /// <summary>The event id that conflicts.</summary>
    public Guid EventId { get; }

    /// <summary>What differs.</summary>
    public string Reason { get; }
}

/// <summary>The event data was refused before anything was sent to the database (not a JSON object, duplicate keys, ...).</summary>
public sealed class InvalidEventDataException : EventStoreException
{
    /// <summary>Creates the exception.</summary>
    public InvalidEventDataException(Guid eventId, string reason, Exception? inner = null)
        : base($"Event {eventId} cannot be stored: {reason}.", inner)
        => EventId = eventId;

    /// <summary>The offending event.</summary>
    public Guid EventId { get; }
}
