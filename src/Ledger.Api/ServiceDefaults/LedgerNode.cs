namespace Ledger.Api.ServiceDefaults;

/// <summary>
/// This process among the nodes sharing the database: its name as owner of projections (<c>GET /api/v1/projections</c>)
/// and, after <c>ledger-api/</c>, as its sessions' <c>application_name</c>, so <c>pg_stat_activity</c> and <c>pg_locks</c>
/// show which node holds what.
/// </summary>
public sealed record LedgerNode(string Id)
{
    /// <summary>What the node's sessions call themselves: PostgreSQL keeps the first 63 bytes.</summary>
    public string ApplicationName => $"ledger-api/{Id}";

    /// <summary><c>Ledger:NodeId</c>, or a name unique to this process: several nodes may run on one machine.</summary>
    public static LedgerNode From(IConfiguration configuration) => new(configuration["Ledger:NodeId"] is { Length: > 0 } configured
        ? configured
        : $"{Environment.MachineName}-{Environment.ProcessId}-{Guid.NewGuid().ToString("N")[..6]}");
}
