using Npgsql;

namespace Ledger.EventStore;

/// <summary>
/// Classifies what Marten throws by PostgreSQL's SqlState and constraint name, never by message text. Marten wraps the
/// server's error (in <c>MartenCommandException</c>, sometimes deeper), so the cause chain is searched.
/// </summary>
public static class MartenFailures
{
    /// <summary>
    /// Whether <paramref name="exception"/> is PostgreSQL refusing an event id that is already stored: a unique violation
    /// (23505) on Marten's unique index on event ids (<see cref="MartenSetup.EventIdIndex"/>). The whole unit of work was
    /// rolled back.
    /// </summary>
    public static bool IsDuplicateEventId(Exception exception) =>
        PostgresCause(exception) is { SqlState: PostgresErrorCodes.UniqueViolation, ConstraintName: MartenSetup.EventIdIndex };

    /// <summary>The PostgreSQL error behind <paramref name="exception"/>, or null when the server raised none.</summary>
    public static PostgresException? PostgresCause(Exception exception) => Cause<PostgresException>(exception);

    /// <summary>The Npgsql exception (a PostgreSQL error, a broken connection, a timeout) behind a Marten exception, if any.</summary>
    public static NpgsqlException? NpgsqlCause(Exception exception) => Cause<NpgsqlException>(exception);

    private static T? Cause<T>(Exception exception)
        where T : Exception
    {
        ArgumentNullException.ThrowIfNull(exception);
        var pending = new Stack<Exception>();
        pending.Push(exception);
        while (pending.TryPop(out var current))
        {
            if (current is T cause) return cause;
            if (current is AggregateException aggregate)
            {
                foreach (var inner in aggregate.InnerExceptions) pending.Push(inner);
            }
            else if (current.InnerException is { } inner)
            {
                pending.Push(inner);
            }
        }

        return null;
    }
}
