using System.Reflection;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using Npgsql;

namespace Ledger.EventStore.Schema;

/// <summary>
/// A set of numbered migrations embedded in an assembly: files named <c>NNNN_name.sql</c> under a resource folder.
/// Each module (the store, the domain's read models, ...) keeps its own numbering.
/// </summary>
public sealed partial record MigrationSource(string Module, Assembly Assembly, string ResourceFolder)
{
    /// <summary>The migrations of this source, in order.</summary>
    public IReadOnlyList<Migration> Load()
    {
        var prefix = Assembly.GetName().Name + "." + ResourceFolder.Replace('/', '.') + ".";
        var migrations = new List<Migration>();
        foreach (var resource in Assembly.GetManifestResourceNames().Where(n => n.StartsWith(prefix, StringComparison.Ordinal)))
        {
            var file = resource[prefix.Length..];
            var match = MigrationFileName().Match(file);
            if (!match.Success) throw new InvalidOperationException($"Migration file '{file}' is not named NNNN_name.sql.");
            var version = int.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
            migrations.Add(new Migration(Module, version, match.Groups[2].Value, SqlResources.Read(Assembly, file)));
        }

        migrations.Sort((a, b) => a.Version.CompareTo(b.Version));
        for (var i = 1; i < migrations.Count; i++)
        {
            if (migrations[i].Version == migrations[i - 1].Version)
                throw new InvalidOperationException($"Two migrations of module '{Module}' have number {migrations[i].Version}.");
        }

        return migrations;
    }

    [GeneratedRegex(@"^(\d{4})_([a-z0-9_]+)\.sql$")]
    private static partial Regex MigrationFileName();
}

/// <summary>One migration file.</summary>
public sealed record Migration(string Module, int Version, string Name, string Sql)
{
    /// <summary>SHA-256 of the file's text: a shipped migration must never change.</summary>
    public string Checksum { get; } = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(Sql)));
}

/// <summary>
/// Applies migrations that have not run yet, recording each in <c>ledger.migrations</c>. Safe to run on every start and
/// from several nodes at once: a session advisory lock makes the others wait, and they then find nothing left to do.
/// </summary>
public sealed class Migrator(NpgsqlDataSource dataSource)
{
    // Arbitrary but fixed: every node must take the same lock.
    private const long AdvisoryLockKey = 0x4c_45_44_47_45_52_01; // "LEDGER" + 1

    private const string Bootstrap = """
        create schema if not exists ledger;
        create table if not exists ledger.migrations (
            module     text        not null,
            version    integer     not null,
            name       text        not null,
            checksum   text        not null,
            applied_at timestamptz not null default now(),
            primary key (module, version)
        );
        """;

    /// <summary>Applies every pending migration of the given sources, in order. Returns the ones applied now.</summary>
    /// <exception cref="InvalidOperationException">An applied migration's file has changed since it ran.</exception>
    public async Task<IReadOnlyList<Migration>> MigrateAsync(IEnumerable<MigrationSource> sources, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(sources);
        var migrations = sources.SelectMany(s => s.Load()).ToList();

        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await ExecuteAsync(connection, "select pg_advisory_lock(@key)", cancellationToken, new NpgsqlParameter("key", AdvisoryLockKey));
        try
        {
            await ExecuteAsync(connection, Bootstrap, cancellationToken);
            var applied = await ReadAppliedAsync(connection, cancellationToken);
            var appliedNow = new List<Migration>();
            foreach (var migration in migrations)
            {
                if (applied.TryGetValue((migration.Module, migration.Version), out var checksum))
                {
                    if (checksum != migration.Checksum)
                    {
                        throw new InvalidOperationException(
                            $"Migration {migration.Module}/{migration.Version:D4}_{migration.Name} was changed after it was applied. " +
                            "Shipped migrations are immutable: add a new migration instead.");
                    }

                    continue;
                }

                await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
                await ExecuteAsync(connection, migration.Sql, cancellationToken);
                await ExecuteAsync(connection,
                    "insert into ledger.migrations (module, version, name, checksum) values (@module, @version, @name, @checksum)",
                    cancellationToken,
                    new NpgsqlParameter("module", migration.Module), new NpgsqlParameter("version", migration.Version),
                    new NpgsqlParameter("name", migration.Name), new NpgsqlParameter("checksum", migration.Checksum));
                await transaction.CommitAsync(cancellationToken);
                appliedNow.Add(migration);
            }

            return appliedNow;
        }
        finally
        {
            await ExecuteAsync(connection, "select pg_advisory_unlock(@key)", CancellationToken.None, new NpgsqlParameter("key", AdvisoryLockKey));
        }
    }

    /// <summary>Whether every migration of the sources has been applied (for readiness checks).</summary>
    public async Task<bool> IsUpToDateAsync(IEnumerable<MigrationSource> sources, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(sources);
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using (var exists = new NpgsqlCommand("select to_regclass('ledger.migrations') is not null", connection))
        {
            if (!(bool)(await exists.ExecuteScalarAsync(cancellationToken))!) return false;
        }

        var applied = await ReadAppliedAsync(connection, cancellationToken);
        return sources.SelectMany(s => s.Load()).All(m => applied.ContainsKey((m.Module, m.Version)));
    }

    private static async Task<Dictionary<(string Module, int Version), string>> ReadAppliedAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        var applied = new Dictionary<(string, int), string>();
        await using var command = new NpgsqlCommand("select module, version, checksum from ledger.migrations", connection);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            applied[(reader.GetString(0), reader.GetInt32(1))] = reader.GetString(2);
        }

        return applied;
    }

    private static async Task ExecuteAsync(NpgsqlConnection connection, string sql, CancellationToken cancellationToken, params NpgsqlParameter[] parameters)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        command.Parameters.AddRange(parameters);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }
}
