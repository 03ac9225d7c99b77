namespace Ledger.LocalPostgres;

/// <summary>
/// A local PostgreSQL cluster could not be initialized, started or stopped. The message carries what the
/// server tools printed (and the tail of the server log when the server failed to start), so it can be shown
/// to a person as it is.
/// </summary>
public class LocalPostgresException : Exception
{
    /// <summary>Creates the exception with a default message.</summary>
    public LocalPostgresException()
    {
    }

    /// <summary>Creates the exception with the given message.</summary>
    /// <param name="message">What went wrong, ready to show to a person.</param>
    public LocalPostgresException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with the given message and cause.</summary>
    /// <param name="message">What went wrong, ready to show to a person.</param>
    /// <param name="innerException">The failure that caused this one.</param>
    public LocalPostgresException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
