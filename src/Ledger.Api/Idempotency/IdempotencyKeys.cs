using System.Security.Cryptography;
using System.Text;
using Ledger.Api.Access;
using Ledger.Api.Http;
using Ledger.Api.ServiceDefaults;
using Ledger.EventStore.Schema;
using Npgsql;

namespace Ledger.Api.Idempotency;

/// <summary>
/// The Idempotency-Key header, kept in PostgreSQL so that any node answers a retry: the first request with a key is
/// processed and its response kept; a retry with the same key and the same request gets that response again and writes
/// nothing; the same key with another request is refused (422); a retry while the first is still being processed is
/// told to wait (409). Keys are scoped to the API key that sent them and kept for <see cref="Retention"/>.
/// </summary>
public sealed class IdempotencyKeys(NpgsqlDataSource dataSource)
{
    public const string HeaderName = "Idempotency-Key";
    public const int MaxKeyLength = 255;

    /// <summary>How long a key is remembered (documented in docs/api.md).</summary>
    public static readonly TimeSpan Retention = TimeSpan.FromHours(24);

    /// <summary>How long a node may hold a key while processing; longer than any request may take.</summary>
    private static readonly TimeSpan Lease = TimeSpan.FromSeconds(60);

    private static readonly string Begin = Read("idempotency_begin.sql");
    private static readonly string Find = Read("idempotency_find.sql");
    private static readonly string Complete = Read("idempotency_complete.sql");
    private static readonly string Release = Read("idempotency_release.sql");
    private static readonly string Purge = Read("idempotency_purge.sql");

    /// <summary>The outcome of presenting a key: either this request now holds it, or here is the answer to give.</summary>
    public readonly record struct Claim(bool Acquired, LedgerResponse? Answer);

    public static bool IsWellFormed(string key) =>
        key.Length is > 0 and <= MaxKeyLength && key.All(c => c is >= '!' and <= '~');

    /// <summary>A request's fingerprint: what a retry must repeat exactly for the key to mean "the same request".</summary>
    public static byte[] Fingerprint(string method, string path, string? ifMatch, ReadOnlySpan<byte> canonicalBody)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData(Encoding.UTF8.GetBytes($"{method}\n{path}\n{ifMatch}\n"));
        hash.AppendData(canonicalBody);
        return hash.GetHashAndReset();
    }

    public async Task<Claim> ClaimAsync(HttpContext context, ApiKeyCaller caller, string key, byte[] fingerprint, CancellationToken cancellationToken)
    {
        // Twice at most: a key released by a failed first attempt between our insert and our read is free again.
        for (var attempt = 0; attempt < 2; attempt++)
        {
            await using (var begin = dataSource.CreateCommand(Begin))
            {
                AddKey(begin, caller, key);
                begin.Parameters.AddWithValue("fingerprint", fingerprint);
                begin.Parameters.AddWithValue("lease", Lease);
                if (await begin.ExecuteScalarAsync(cancellationToken) is true) return new Claim(true, null);
            }

            await using var find = dataSource.CreateCommand(Find);
            AddKey(find, caller, key);
            await using var reader = await find.ExecuteReaderAsync(cancellationToken);
            if (!await reader.ReadAsync(cancellationToken)) continue;

            if (!reader.GetFieldValue<byte[]>(0).AsSpan().SequenceEqual(fingerprint))
            {
                return new Claim(false, LedgerResponse.Problem(context, StatusCodes.Status422UnprocessableEntity, ProblemTypes.IdempotencyKeyReused,
                    "This Idempotency-Key was used for a different request.",
                    "A key names one request: a retry must repeat its method, path, If-Match and body exactly. Use a new key for a new request."));
            }

            if (reader.GetString(1) == "completed")
            {
                return new Claim(false, new LedgerResponse(reader.GetInt32(3), reader.GetString(4), reader.GetString(5),
                    reader.IsDBNull(6) ? null : reader.GetString(6), reader.IsDBNull(7) ? null : reader.GetString(7)));
            }

            context.Response.Headers.RetryAfter = "1";
            return new Claim(false, LedgerResponse.Problem(context, StatusCodes.Status409Conflict, ProblemTypes.RequestInFlight,
                "A request with this Idempotency-Key is still being processed.",
                "Wait a moment and retry with the same key to get its answer."));
        }

        throw new InvalidOperationException("The Idempotency-Key row kept disappearing.");
    }

    /// <summary>
    /// Keeps the answer for retries. 5xx answers and 409 version-conflict (other writers kept changing the unit) are not
    /// kept: both tell the sender to retry, so the key is released and a retry with the same key runs again. Nor is 400:
    /// an invalid request never held its key (the command's validator answers it before anything is read), so the fixed
    /// request may use the same key.
    /// </summary>
    public async Task CompleteAsync(ApiKeyCaller caller, string key, LedgerResponse response, CancellationToken cancellationToken)
    {
        if (response.Status >= 500 || response.Status is StatusCodes.Status409Conflict or StatusCodes.Status400BadRequest)
        {
            await ReleaseAsync(caller, key);
            return;
        }

        await using var command = dataSource.CreateCommand(Complete);
        AddKey(command, caller, key);
        command.Parameters.AddWithValue("status", response.Status);
        command.Parameters.AddWithValue("type", response.ContentType);
        command.Parameters.AddWithValue("body", response.Body);
        command.Parameters.AddWithValue("etag", (object?)response.ETag ?? DBNull.Value);
        command.Parameters.AddWithValue("location", (object?)response.Location ?? DBNull.Value);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    public async Task ReleaseAsync(ApiKeyCaller caller, string key)
    {
        await using var command = dataSource.CreateCommand(Release);
        AddKey(command, caller, key);
        await command.ExecuteNonQueryAsync(CancellationToken.None);
    }

    public async Task<int> PurgeAsync(CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(Purge);
        command.Parameters.AddWithValue("retention", Retention);
        return await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private static void AddKey(NpgsqlCommand command, ApiKeyCaller caller, string key)
    {
        command.Parameters.AddWithValue("api_key_id", caller.KeyId);
        command.Parameters.AddWithValue("idempotency_key", key);
    }

    private static string Read(string file) => SqlResources.Read(typeof(IdempotencyKeys).Assembly, file);
}
