namespace Ledger.LocalPostgres;

/// <summary>
/// The PostgreSQL server binaries (initdb, pg_ctl) are not on this machine. The message names the package
/// to install and the PG_BIN variable that points at binaries elsewhere.
/// </summary>
public sealed class PostgresNotInstalledException : LocalPostgresException
{
    /// <summary>The advice every instance of this exception starts with.</summary>
    public const string Advice =
        "PostgreSQL server binaries (initdb, pg_ctl) were not found. Install them with: apt-get install -y postgresql " +
        "(Debian/Ubuntu), or set PG_BIN to the directory that holds them.";

    /// <summary>Creates the exception with the standard advice.</summary>
    public PostgresNotInstalledException()
        : base(Advice)
    {
    }

    /// <summary>Creates the exception with the given message.</summary>
    /// <param name="message">The advice, usually followed by where the binaries were looked for.</param>
    public PostgresNotInstalledException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with the given message and cause.</summary>
    /// <param name="message">The advice, usually followed by where the binaries were looked for.</param>
    /// <param name="innerException">The failure that caused this one.</param>
    public PostgresNotInstalledException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
