namespace Ledger.LocalPostgres;

/// <summary>Where a <see cref="LocalPostgresCluster"/> keeps its files, which port it listens on, and how its server is set up.</summary>
public sealed class LocalPostgresOptions
{
    /// <summary>
    /// The cluster's data directory. It is created and initialized on the first <see cref="LocalPostgresCluster.InitIfNeededAsync"/>
    /// and reused afterwards; the server log (server.log) is kept in it too.
    /// </summary>
    public required string DataDirectory { get; init; }

    /// <summary>
    /// Where the server puts its Unix-domain socket, which <see cref="LocalPostgresCluster.ConnectionString"/> connects through.
    /// Defaults to <see cref="DataDirectory"/>. The socket's full path must fit in 107 bytes.
    /// </summary>
    public string? SocketDirectory { get; init; }

    /// <summary>The TCP port the server listens on at 127.0.0.1; 0 (the default) picks a free one when the cluster is created.</summary>
    public int Port { get; init; }

    /// <summary>The server's max_connections; null keeps PostgreSQL's default (100).</summary>
    public int? MaxConnections { get; init; }

    /// <summary>
    /// Further server settings passed as <c>-c name=value</c>, e.g. fsync=off for tests. They are applied last, so they
    /// override the cluster's own (listen_addresses, max_connections). With fsync=off, initdb skips its sync as well.
    /// </summary>
    public IReadOnlyDictionary<string, string> Settings { get; init; } = new Dictionary<string, string>();

    /// <summary>The server binaries to use; null finds them with <see cref="PostgresInstallation.Find"/>.</summary>
    public PostgresInstallation? Installation { get; init; }

    /// <summary>How long a start or a stop may take (crash recovery included) before it is reported as failed. Defaults to 60 seconds.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(60);
}
