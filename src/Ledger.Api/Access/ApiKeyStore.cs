using System.Text.RegularExpressions;
using Ledger.EventStore;
using Ledger.EventStore.Schema;
using Npgsql;

namespace Ledger.Api.Access;

/// <summary>A key as listed: never its secret.</summary>
public sealed record ApiKeyInfo(Guid Id, string Name, LedgerRole Role, string? FactoryId, DateTimeOffset CreatedAt, DateTimeOffset? RevokedAt);

/// <summary>A key just created: <see cref="Key"/> is the only time its text exists outside the caller's hands.</summary>
public sealed record CreatedApiKey(ApiKeyInfo Info, string Key);

/// <summary>What <see cref="ApiKeyStore.EnsureBootstrapAdminAsync"/> found.</summary>
public enum BootstrapOutcome
{
    /// <summary>The configured key was stored now (replacing any other live key of the bootstrap name).</summary>
    Created = 1,

    /// <summary>The configured key was already stored and live.</summary>
    AlreadyPresent = 2,

    /// <summary>The configured key was stored once and has since been revoked; it stays revoked.</summary>
    Revoked = 3,
}

/// <summary>The request to create a key was refused; <see cref="Exception.Message"/> says why, for people.</summary>
public sealed class ApiKeyRejectedException(string message) : Exception(message);

/// <summary>API keys in <c>ledger.api_keys</c>: create (returning the key once), list, revoke, authenticate.</summary>
public sealed partial class ApiKeyStore(NpgsqlDataSource dataSource, TimeProvider timeProvider)
{
    /// <summary>The name of the admin key that <c>Ledger:BootstrapAdminKey</c> provides.</summary>
    public const string BootstrapAdminName = "bootstrap-admin";

    private const string UniqueViolation = "23505";

    /// <summary>Creates a key and returns its text, which is not stored and cannot be shown again.</summary>
    /// <exception cref="ApiKeyRejectedException">The name is taken by a live key, or the role and factory do not fit.</exception>
    public async Task<CreatedApiKey> CreateAsync(string name, LedgerRole role, string? factoryId, CancellationToken cancellationToken = default)
    {
        var key = ApiKeyText.Generate();
        var info = await InsertAsync(key, name, role, factoryId, cancellationToken);
        return new CreatedApiKey(info, key.ToString());
    }

    /// <summary>Every key, oldest first; revoked ones only when asked for.</summary>
    public async Task<IReadOnlyList<ApiKeyInfo>> ListAsync(bool includeRevoked = false, CancellationToken cancellationToken = default)
    {
        await using var command = dataSource.CreateCommand(Sql.List);
        command.Parameters.AddWithValue("include_revoked", includeRevoked);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var keys = new List<ApiKeyInfo>();
        while (await reader.ReadAsync(cancellationToken)) keys.Add(ReadInfo(reader));
        return keys;
    }

    /// <summary>
    /// Revokes the live key with this id (if <paramref name="idOrName"/> is a uuid) or name. It stops working on the next
    /// request on every node. Returns the revoked key, or null if no live key matched.
    /// </summary>
    public async Task<ApiKeyInfo?> RevokeAsync(string idOrName, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(idOrName);
        var byId = Guid.TryParse(idOrName, out var id);
        await using var command = dataSource.CreateCommand(byId ? Sql.RevokeById : Sql.RevokeByName);
        if (byId) command.Parameters.AddWithValue("id", id);
        else command.Parameters.AddWithValue("name", idOrName);
        command.Parameters.AddWithValue("revoked_at", timeProvider.GetUtcNow());
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken) ? ReadInfo(reader) : null;
    }

    /// <summary>The caller a key text stands for, or null if it is malformed, unknown, revoked or its secret is wrong.</summary>
    public async Task<ApiKeyCaller?> AuthenticateAsync(string keyText, CancellationToken cancellationToken = default)
    {
        if (!ApiKeyText.TryParse(keyText, out var key)) return null;
        // Prepared: every request runs it.
        var rows = await PreparedRead.ListAsync(dataSource, Sql.Authenticate, p => p.Add(new NpgsqlParameter<Guid>("id", key.Id)),
            reader => (Name: reader.GetString(0), Role: reader.GetString(1), FactoryId: reader.IsDBNull(2) ? null : reader.GetString(2),
                SecretHash: (byte[])reader["secret_hash"]),
            cancellationToken);
        if (rows is not [var row] || !key.Matches(row.SecretHash)) return null;
        return new ApiKeyCaller(key.Id, row.Name, ParseRole(row.Role), row.FactoryId);
    }

    /// <summary>
    /// Makes sure the configured bootstrap admin key is stored. Idempotent across restarts and safe for nodes starting
    /// together. A different key configured later replaces the live <c>bootstrap-admin</c>; a key once revoked stays revoked.
    /// </summary>
    /// <exception cref="ApiKeyRejectedException">The configured text is not of the key format.</exception>
    public async Task<BootstrapOutcome> EnsureBootstrapAdminAsync(string keyText, CancellationToken cancellationToken = default)
    {
        if (!ApiKeyText.TryParse(keyText, out var key))
        {
            throw new ApiKeyRejectedException(
                "Ledger:BootstrapAdminKey is not an API key of the form ldg_<32 hex>_<43 base64url>; generate one with `ledger keys generate`.");
        }

        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await using (var lockCommand = new NpgsqlCommand(Sql.BootstrapLock, connection, transaction))
        {
            await lockCommand.ExecuteNonQueryAsync(cancellationToken);
        }

        await using (var exists = new NpgsqlCommand(Sql.Exists, connection, transaction))
        {
            exists.Parameters.AddWithValue("id", key.Id);
            if (await exists.ExecuteScalarAsync(cancellationToken) is bool revoked)
            {
                return revoked ? BootstrapOutcome.Revoked : BootstrapOutcome.AlreadyPresent;
            }
        }

        var now = timeProvider.GetUtcNow();
        await using (var replace = new NpgsqlCommand(Sql.BootstrapReplace, connection, transaction))
        {
            replace.Parameters.AddWithValue("name", BootstrapAdminName);
            replace.Parameters.AddWithValue("id", key.Id);
            replace.Parameters.AddWithValue("created_at", now);
            await replace.ExecuteNonQueryAsync(cancellationToken);
        }

        await using (var insert = new NpgsqlCommand(Sql.Insert, connection, transaction))
        {
            AddInsertParameters(insert, key, BootstrapAdminName, LedgerRole.Admin, null, now);
            await insert.ExecuteNonQueryAsync(cancellationToken);
        }

        await transaction.CommitAsync(cancellationToken);
        return BootstrapOutcome.Created;
    }

    private async Task<ApiKeyInfo> InsertAsync(ApiKeyText key, string name, LedgerRole role, string? factoryId, CancellationToken cancellationToken)
    {
        Validate(name, role, factoryId);
        var now = timeProvider.GetUtcNow();
        await using var command = dataSource.CreateCommand(Sql.Insert);
        AddInsertParameters(command, key, name, role, factoryId, now);
        try
        {
            await command.ExecuteNonQueryAsync(cancellationToken);
        }
        catch (PostgresException e) when (e.SqlState == UniqueViolation)
        {
            throw new ApiKeyRejectedException($"A live key named '{name}' already exists; revoke it first or choose another name.");
        }

        return new ApiKeyInfo(key.Id, name, role, factoryId, now, null);
    }

    private static void AddInsertParameters(NpgsqlCommand command, ApiKeyText key, string name, LedgerRole role, string? factoryId, DateTimeOffset now)
    {
        command.Parameters.AddWithValue("id", key.Id);
        command.Parameters.AddWithValue("name", name);
        command.Parameters.AddWithValue("role", role.ToText());
        command.Parameters.Add(new NpgsqlParameter<string?>("factory_id", NpgsqlTypes.NpgsqlDbType.Text) { TypedValue = factoryId });
        command.Parameters.AddWithValue("secret_hash", key.SecretHash());
        command.Parameters.AddWithValue("created_at", now);
    }

    private static void Validate(string name, LedgerRole role, string? factoryId)
    {
        if (string.IsNullOrWhiteSpace(name) || name.Length > 100 || name.Any(char.IsControl) || name != name.Trim())
        {
            throw new ApiKeyRejectedException("A key's name must be 1 to 100 characters without control characters or surrounding spaces.");
        }

        if (!LedgerRoles.All.Contains(role)) throw new ApiKeyRejectedException($"'{role}' is not a role.");
        if (role == LedgerRole.Line && (factoryId is null || !FactoryIdFormat().IsMatch(factoryId)))
        {
            throw new ApiKeyRejectedException("A line key needs the id of its one factory (lower case, e.g. 'lathrop').");
        }

        if (role != LedgerRole.Line && factoryId is not null)
        {
            throw new ApiKeyRejectedException($"Only line keys are scoped to a factory; a {role.ToText()} key acts for all of them.");
        }
    }

    private static ApiKeyInfo ReadInfo(NpgsqlDataReader reader) => new(
        reader.GetGuid(0),
        reader.GetString(1),
        ParseRole(reader.GetString(2)),
        reader.IsDBNull(3) ? null : reader.GetString(3),
        reader.GetFieldValue<DateTimeOffset>(4),
        reader.IsDBNull(5) ? null : reader.GetFieldValue<DateTimeOffset>(5));

    private static LedgerRole ParseRole(string text) =>
        LedgerRoles.TryParse(text, out var role) ? role : throw new InvalidOperationException($"Unknown role '{text}' in ledger.api_keys.");

    [GeneratedRegex("^[a-z0-9][a-z0-9-]{0,63}$")]
    private static partial Regex FactoryIdFormat();

    private static class Sql
    {
        public static readonly string Insert = Read("api_keys_insert.sql");
        public static readonly string Authenticate = Read("api_keys_authenticate.sql");
        public static readonly string List = Read("api_keys_list.sql");
        public static readonly string RevokeById = Read("api_keys_revoke_by_id.sql");
        public static readonly string RevokeByName = Read("api_keys_revoke_by_name.sql");
        public static readonly string BootstrapLock = Read("api_keys_bootstrap_lock.sql");
        public static readonly string BootstrapReplace = Read("api_keys_bootstrap_replace.sql");
        public static readonly string Exists = Read("api_keys_exists.sql");

        private static string Read(string fileName) => SqlResources.Read(typeof(ApiKeyStore).Assembly, fileName);
    }
}
