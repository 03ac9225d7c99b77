using System.Globalization;
using System.Text.Json;
using Ledger.Api.Access;
using Ledger.Api.Http;
using Ledger.Api.ServiceDefaults;
using Ledger.Api.ServiceDefaults.OpenApi;
using Ledger.EventStore.Audit;

namespace Ledger.Api.Features.Audit;

/// <summary>The newest block: what auditors keep outside the ledger to prove later that history up to it is unchanged.</summary>
public sealed record DigestResponse(
    long BlockNumber, int EventCount, long LastPosition, long SealedEvents, string MerkleRoot, string ChainHash, DateTimeOffset SealedAt)
{
    internal static DigestResponse From(LedgerDigest d) => new(d.BlockNumber, d.EventCount, d.LastPosition, d.SealedEvents,
        Hex(d.MerkleRoot), Hex(d.ChainHash), d.SealedAt);

    internal static string Hex(byte[] hash) => Convert.ToHexStringLower(hash);
}

/// <summary>A block's header: what its chain hash is computed over, and the hash itself.</summary>
public sealed record BlockHeaderResponse(
    long Number, int EventCount, long FirstPosition, long LastPosition, string MerkleRoot, string? PreviousChainHash, string ChainHash, DateTimeOffset SealedAt);

/// <summary>The event exactly as hashed: every member of the canonical envelope (docs/auditing.md).</summary>
public sealed record ProvenEvent(
    Guid EventId, string StreamId, long StreamVersion, long Position, string Type, JsonElement Data, JsonElement Metadata,
    string OccurredAt, string RecordedAt, string? PreviousHash, string Hash);

/// <summary>An inclusion proof: the event, its block, and the RFC 9162 audit path from its leaf to the block's Merkle root.</summary>
public sealed record ProofResponse(ProvenEvent Event, BlockHeaderResponse Block, int LeafIndex, string LeafHash, IReadOnlyList<string> AuditPath);

/// <summary>
/// The digest an auditor kept, to prove the history up to it unchanged. The whole digest as <c>GET /audit/digest</c>
/// answered it may be sent back: only the block number and chain hash count.
/// </summary>
[System.Text.Json.Serialization.JsonUnmappedMemberHandling(System.Text.Json.Serialization.JsonUnmappedMemberHandling.Skip)]
public sealed record DigestToCheck(long BlockNumber, string ChainHash);

/// <summary>Body of <c>POST /audit/verify</c>; every member optional.</summary>
public sealed record VerifyRequest(DigestToCheck? Digest);

/// <summary>The verification report.</summary>
public sealed record VerifyResponse(
    bool Ok, long EventsChecked, long StreamsChecked, long BlocksChecked, long SealedEvents, long UnsealedEvents, DigestCheck? Digest,
    Mismatch? FirstMismatch, IReadOnlyList<Mismatch> Mismatches, bool MismatchesTruncated)
{
    internal static VerifyResponse From(VerificationReport r) => new(r.Ok, r.EventsChecked, r.StreamsChecked, r.BlocksChecked, r.SealedEvents,
        r.UnsealedEvents, r.Digest, r.FirstMismatch, r.Mismatches, r.MismatchesTruncated);
}

/// <summary>
/// <c>/api/v1/audit</c>: the digest, inclusion proofs and verification, for auditors who do not trust the service
/// (docs/auditing.md says how to check all of it independently).
/// </summary>
public static class AuditEndpoints
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        UnmappedMemberHandling = System.Text.Json.Serialization.JsonUnmappedMemberHandling.Disallow,
    };

    /// <summary>One verification at a time per node: it reads the whole ledger.</summary>
    private static readonly SemaphoreSlim OneVerification = new(1, 1);

    public static RouteGroupBuilder MapAudit(this RouteGroupBuilder api)
    {
        ArgumentNullException.ThrowIfNull(api);
        var audit = api.MapGroup("/audit");
        audit.MapGet("/digest", DigestAsync)
            .WithName("GetDigest")
            .WithSummary("The newest sealed block: number, last position, Merkle root, chain hash and sealing time. Keep it outside the ledger.")
            .WithDescription("The chain hash commits to every earlier block and every sealed event; keep blockNumber and chainHash where the ledger's operators cannot write, and give them to POST /audit/verify or `ledger verify --digest` later. 404 no-digest-yet before the first block.")
            .WithResponseExample(StatusCodes.Status200OK, AuditExamples.Digest)
            .Produces<DigestResponse>()
            .ProducesProblem(StatusCodes.Status404NotFound)
            .RequireRole(LedgerRole.Auditor);
        audit.MapGet("/proof/{eventId}", ProofAsync)
            .WithName("GetInclusionProof")
            .WithSummary("An event, its block and the Merkle audit path from the event's leaf to the block root (RFC 9162).")
            .WithDescription("The event carries every member of its hashed envelope, so an auditor recomputes its hash, the leaf, the root and the block's chain hash with their own code (docs/auditing.md). 409 event-not-sealed with Retry-After while the sealer has not reached it.")
            .WithParameter("eventId", AuditExamples.EventId)
            .WithResponseExample(StatusCodes.Status200OK, AuditExamples.Proof)
            .Produces<ProofResponse>()
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict)
            .RequireRole(LedgerRole.Auditor);
        audit.MapPost("/verify", VerifyAsync)
            .WithName("VerifyLedger")
            .WithSummary("Recomputes every event hash, stream chain, block and the block chain; with a digest, proves the history up to it unchanged.")
            .WithDescription("Reads the whole ledger from one snapshot and answers 200 with the report either way (ok says which), the counts checked and every mismatch named by stream, version, position and block. The body is optional. One verification per node at a time.")
            .Accepts<VerifyRequest>("application/json")
            .WithRequestExample("a digest kept earlier", AuditExamples.VerifyRequest)
            .WithResponseExample(StatusCodes.Status200OK, AuditExamples.VerifyReport)
            .WithResponseExample(StatusCodes.Status429TooManyRequests, AuditExamples.Busy, "application/problem+json")
            .Produces<VerifyResponse>()
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status415UnsupportedMediaType)
            .ProducesProblem(StatusCodes.Status429TooManyRequests)
            .RequireRole(LedgerRole.Auditor);
        return api;
    }

    private static async Task<IResult> DigestAsync(HttpContext context, LedgerAudit audit, CancellationToken cancellationToken) =>
        await audit.GetDigestAsync(cancellationToken) is { } digest
            ? TypedResults.Ok(DigestResponse.From(digest))
            : LedgerResponse.Problem(context, StatusCodes.Status404NotFound, ProblemTypes.NoDigestYet, "Nothing is sealed yet.",
                "The sealer has not sealed a block yet; events are sealed within seconds of being recorded.");

    private static async Task<IResult> ProofAsync(string eventId, HttpContext context, LedgerAudit audit, AuditSealerOptions sealing, CancellationToken cancellationToken)
    {
        if (!Guid.TryParse(eventId, out var id))
            return LedgerResponse.Validation(context, new Dictionary<string, string[]> { ["eventId"] = ["Must be a UUID."] }, "Fix the event id.");

        var lookup = await audit.GetProofAsync(id, cancellationToken);
        if (lookup.Unsealed is { } unsealed)
        {
            context.Response.Headers.RetryAfter = Math.Max(1, (int)Math.Ceiling(sealing.SealInterval.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
            return LedgerResponse.Problem(context, StatusCodes.Status409Conflict, ProblemTypes.EventNotSealed, "The event is not sealed yet.",
                $"Event {id} (position {unsealed.Position}) is recorded but not yet in a block; retry after the Retry-After seconds.");
        }

        if (lookup.Proof is not { } proof)
            return LedgerResponse.Problem(context, StatusCodes.Status404NotFound, ProblemTypes.EventNotFound, "No such event.", $"No event has id {id}.");

        var e = proof.Event;
        using var data = JsonDocument.Parse(e.Data);
        using var metadata = JsonDocument.Parse(e.MetadataJson);
        var b = proof.Block;
        return TypedResults.Ok(new ProofResponse(
            new ProvenEvent(e.EventId, e.StreamId, e.StreamVersion, e.Position, e.Type, data.RootElement.Clone(), metadata.RootElement.Clone(),
                EventStore.Hashing.EventHasher.FormatTimestamp(e.OccurredAt), EventStore.Hashing.EventHasher.FormatTimestamp(e.RecordedAt),
                proof.PreviousHash is null ? null : DigestResponse.Hex(proof.PreviousHash), Convert.ToHexStringLower(e.Hash.Span)),
            new BlockHeaderResponse(b.Number, b.EventCount, b.FirstPosition, b.LastPosition, DigestResponse.Hex(b.MerkleRoot),
                b.PreviousChainHash is null ? null : DigestResponse.Hex(b.PreviousChainHash), DigestResponse.Hex(b.ChainHash), b.SealedAt),
            proof.LeafIndex, DigestResponse.Hex(proof.LeafHash), [.. proof.AuditPath.Select(DigestResponse.Hex)]));
    }

    private static async Task<IResult> VerifyAsync(HttpContext context, LedgerAudit audit, CancellationToken cancellationToken)
    {
        LedgerDigestReference? digest = null;
        if (context.Request.ContentLength is > 0 || context.Request.Headers.TransferEncoding.Count > 0)
        {
            var (document, refusal) = await RequestBody.ReadJsonAsync(context, 16 * 1024);
            if (refusal is not null) return refusal;
            VerifyRequest? request;
            using (document)
            {
                try
                {
                    request = document!.RootElement.Deserialize<VerifyRequest>(Json);
                }
                catch (JsonException e)
                {
                    return LedgerResponse.Validation(context, new Dictionary<string, string[]> { [e.Path ?? "$"] = [e.Message.Split(". Path:")[0]] },
                        "The request could not be read.");
                }
            }

            if (request?.Digest is { } given)
            {
                var errors = new Dictionary<string, string[]>(StringComparer.Ordinal);
                if (given.BlockNumber < 1) errors["digest.blockNumber"] = ["Must be a block number (1 or more)."];
                byte[]? chainHash = null;
                if (given.ChainHash is not { Length: 64 } || !TryHex(given.ChainHash, out chainHash))
                    errors["digest.chainHash"] = ["Must be the 64 hex digits of a SHA-256 chain hash."];
                if (errors.Count > 0) return LedgerResponse.Validation(context, errors, "Fix the digest.");
                digest = new LedgerDigestReference(given.BlockNumber, chainHash!);
            }
        }

        if (!await OneVerification.WaitAsync(0, cancellationToken))
        {
            context.Response.Headers.RetryAfter = "30";
            return LedgerResponse.Problem(context, StatusCodes.Status429TooManyRequests, ProblemTypes.VerificationBusy, "A verification is already running.",
                "This node verifies one ledger at a time; retry after the Retry-After seconds.");
        }

        try
        {
            return TypedResults.Ok(VerifyResponse.From(await audit.VerifyAsync(digest, cancellationToken: cancellationToken)));
        }
        finally
        {
            OneVerification.Release();
        }
    }

    private static bool TryHex(string text, out byte[]? bytes)
    {
        try
        {
            bytes = Convert.FromHexString(text);
            return true;
        }
        catch (FormatException)
        {
            bytes = null;
            return false;
        }
    }
}
