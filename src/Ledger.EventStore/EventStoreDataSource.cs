using Npgsql;

namespace Ledger.EventStore;

/// <summary>Builds the process's one <see cref="NpgsqlDataSource"/> with the settings the store relies on.</summary>
public static class EventStoreDataSource
{
    /// <summary>
    /// A data source whose sessions end any transaction left idle longer than <paramref name="idleInTransactionTimeout"/>:
    /// an open transaction holds back the feed's snapshot horizon for every reader, so none may linger. PostgreSQL's JIT
    /// compilation is off for its sessions unless the connection string's Options say otherwise.
    /// </summary>
    public static NpgsqlDataSource Create(
        string connectionString, string applicationName = "ledger", TimeSpan? idleInTransactionTimeout = null,
        Action<NpgsqlDataSourceBuilder>? configure = null)
    {
        var builder = new NpgsqlDataSourceBuilder(connectionString);
        var settings = builder.ConnectionStringBuilder;
        if (string.IsNullOrEmpty(settings.ApplicationName)) settings.ApplicationName = applicationName;
        var timeout = (long)(idleInTransactionTimeout ?? TimeSpan.FromSeconds(30)).TotalMilliseconds;
        if (settings.Options?.Contains("idle_in_transaction_session_timeout", StringComparison.Ordinal) != true)
        {
            settings.Options = $"{settings.Options} -c idle_in_transaction_session_timeout={timeout}".Trim();
        }

        // The ledger's statements are short, and PostgreSQL plans a correlated subquery for a parameter it cannot see, so an
        // estimate can pass jit_above_cost where the work is a few index probes: the read models' status (the metrics
        // sampler's, every 5 s) cost 0.1 ms of execution and 268 ms of JIT compilation on a 200,000-event store, 340-650 ms
        // a call in the benchmark, more than the journal's whole work (issue 15; docs/benchmarks.md, "JIT").
        if (settings.Options?.Contains("jit", StringComparison.Ordinal) != true)
        {
            settings.Options = $"{settings.Options} -c jit=off".Trim();
        }

        // Npgsql's automatic preparation stays off (npgsql#6391); the reads every request makes are prepared explicitly
        // instead: why, and how, is PreparedRead's.
        configure?.Invoke(builder);
        return builder.Build();
    }
}
