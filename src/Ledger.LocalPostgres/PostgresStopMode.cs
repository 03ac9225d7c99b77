namespace Ledger.LocalPostgres;

/// <summary>How <see cref="LocalPostgresCluster.StopAsync"/> shuts the server down (pg_ctl's -m).</summary>
public enum PostgresStopMode
{
    /// <summary>Ends open sessions, writes a checkpoint and exits cleanly: the normal way to stop.</summary>
    Fast,

    /// <summary>
    /// Exits at once without a checkpoint, as a crash would; the next start replays the write-ahead log.
    /// Committed transactions survive, so tests use it to simulate a database crash.
    /// </summary>
    Immediate,
}
