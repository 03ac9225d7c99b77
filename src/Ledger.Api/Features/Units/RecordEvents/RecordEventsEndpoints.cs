using System.Buffers;
using System.Globalization;
using System.Text.Json;
using Ledger.Api.Access;
using Ledger.Api.Http;
using Ledger.Api.Idempotency;
using Ledger.Api.ServiceDefaults;
using Ledger.Api.ServiceDefaults.OpenApi;
using Ledger.EventStore.Hashing;
using Ledger.Production.Units;

namespace Ledger.Api.Features.Units.RecordEvents;

/// <summary>
/// <c>POST /api/v1/units/{serial}/events</c> and <c>POST /api/v1/events</c>: how line systems record what happened.
/// Both are atomic: every event of a request is recorded, or none.
/// </summary>
public static class RecordEventsEndpoints
{
    /// <summary>At most this many events in one request (documented in docs/api.md).</summary>
    public const int MaxEventsPerRequest = 1_000;

    /// <summary>Body limit of <c>POST /units/{serial}/events</c>.</summary>
    public const long MaxUnitBodyBytes = 1024 * 1024;

    /// <summary>Body limit of <c>POST /events</c>.</summary>
    public const long MaxBatchBodyBytes = 4 * 1024 * 1024;

    public static RouteGroupBuilder MapRecordEvents(this RouteGroupBuilder api)
    {
        ArgumentNullException.ThrowIfNull(api);
        api.MapPost("/units/{serial}/events", RecordUnitEventsAsync)
            .WithName("RecordUnitEvents")
            .WithSummary("Record one event, or an array of events, for one unit, atomically.")
            .WithDescription(RecordEventsExamples.Description)
            .WithParameter("serial", RecordEventsExamples.Serial)
            .WithParameter("If-Match", RecordEventsExamples.IfMatch, ParameterPlace.Header)
            .WithParameter("Idempotency-Key", RecordEventsExamples.IdempotencyKey, ParameterPlace.Header)
            .WithRequestExample("one event", RecordEventsExamples.OneEvent)
            .WithRequestExample("several events", RecordEventsExamples.SeveralEvents)
            .WithResponseExample(StatusCodes.Status201Created, RecordEventsExamples.UnitReceipt)
            .Accepts<JsonElement>("application/json")
            .Produces<UnitReceipt>(StatusCodes.Status201Created)
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict)
            .ProducesProblem(StatusCodes.Status412PreconditionFailed)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .ProducesProblem(StatusCodes.Status415UnsupportedMediaType)
            .ProducesProblem(StatusCodes.Status422UnprocessableEntity)
            .RequireRole(LedgerRole.Line);
        api.MapPost("/events", RecordBatchAsync)
            .WithName("RecordEvents")
            .WithSummary("Record events for many units at once, atomically: all of them or none.")
            .WithDescription(RecordEventsExamples.BatchDescription)
            .WithParameter("Idempotency-Key", RecordEventsExamples.IdempotencyKey, ParameterPlace.Header)
            .WithRequestExample("a test and a build", RecordEventsExamples.Batch)
            .WithResponseExample(StatusCodes.Status201Created, RecordEventsExamples.BatchReceipt)
            .Accepts<JsonElement>("application/json")
            .Produces<BatchReceipt>(StatusCodes.Status201Created)
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .ProducesProblem(StatusCodes.Status415UnsupportedMediaType)
            .ProducesProblem(StatusCodes.Status422UnprocessableEntity)
            .RequireRole(LedgerRole.Line);
        return api;
    }

    private static async Task<IResult> RecordUnitEventsAsync(
        string serial, HttpContext context, UnitEventWriter writer, IdempotencyKeys idempotency, CancellationToken cancellationToken)
    {
        var errors = new EventEnvelopeReader();
        if (!Serial.TryParse(serial, out var unit, out var serialError)) errors.Add("serial", serialError);
        var ifMatch = ReadIfMatch(context, errors);
        var key = ReadIdempotencyKey(context, errors);
        if (errors.HasErrors) return LedgerResponse.Validation(context, errors.Errors, "Fix the fields named in errors and send again.");

        var (document, refusal) = await RequestBody.ReadJsonAsync(context, MaxUnitBodyBytes);
        if (refusal is not null) return refusal;
        using (document)
        {
            var root = document!.RootElement;
            var events = new List<ProposedEvent>();
            if (root.ValueKind == JsonValueKind.Array)
            {
                var count = root.GetArrayLength();
                if (count is 0 or > MaxEventsPerRequest) errors.Add("$", $"Send 1 to {MaxEventsPerRequest} events; this array has {count}.");
                else events.AddRange(root.EnumerateArray().Select((e, i) => errors.Read(e, i, $"[{i}]", unit)).OfType<ProposedEvent>());
            }
            else if (errors.Read(root, 0, string.Empty, unit) is { } single)
            {
                events.Add(single);
            }

            if (errors.HasErrors) return LedgerResponse.Validation(context, errors.Errors, "No event was recorded; fix the fields named in errors.");
            var request = new WriteRequest(Caller(context), events, ifMatch, key, context.GetCorrelationId());
            return await WriteOnceAsync(context, request, root, idempotency, async () =>
            {
                var (units, writeRefusal) = await writer.WriteAsync(context, request, cancellationToken);
                if (writeRefusal is not null) return writeRefusal;
                var receipt = units![0];
                return LedgerResponse.Created(receipt, $"/api/v1/units/{receipt.Serial}", receipt.Version);
            }, cancellationToken);
        }
    }

    private static async Task<IResult> RecordBatchAsync(
        HttpContext context, UnitEventWriter writer, IdempotencyKeys idempotency, CancellationToken cancellationToken)
    {
        var errors = new EventEnvelopeReader();
        var key = ReadIdempotencyKey(context, errors);
        if (errors.HasErrors) return LedgerResponse.Validation(context, errors.Errors, "Fix the fields named in errors and send again.");

        var (document, refusal) = await RequestBody.ReadJsonAsync(context, MaxBatchBodyBytes);
        if (refusal is not null) return refusal;
        using (document)
        {
            var root = document!.RootElement;
            var events = new List<ProposedEvent>();
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("events", out var array) || array.ValueKind != JsonValueKind.Array)
            {
                errors.Add("events", """The body must be {"events": [ ... ]}.""");
            }
            else
            {
                foreach (var property in root.EnumerateObject().Where(p => p.Name != "events"))
                {
                    errors.Add(property.Name, "Unknown field; the body has only \"events\".");
                }

                var count = array.GetArrayLength();
                if (count is 0 or > MaxEventsPerRequest) errors.Add("events", $"Send 1 to {MaxEventsPerRequest} events; this batch has {count}.");
                else events.AddRange(array.EnumerateArray().Select((e, i) => errors.Read(e, i, $"events[{i}]", serial: null)).OfType<ProposedEvent>());
            }

            if (errors.HasErrors) return LedgerResponse.Validation(context, errors.Errors, "No event was recorded; fix the fields named in errors.");
            var request = new WriteRequest(Caller(context), events, IfMatch: null, key, context.GetCorrelationId());
            return await WriteOnceAsync(context, request, root, idempotency, async () =>
            {
                var (units, writeRefusal) = await writer.WriteAsync(context, request, cancellationToken);
                if (writeRefusal is not null) return writeRefusal;
                return LedgerResponse.Created(new BatchReceipt(units!, units!.Max(u => u.Position)), location: null, version: null);
            }, cancellationToken);
        }
    }

    /// <summary>Runs the write under the request's Idempotency-Key, if it has one.</summary>
    private static async Task<LedgerResponse> WriteOnceAsync(
        HttpContext context, WriteRequest request, JsonElement body, IdempotencyKeys idempotency, Func<Task<LedgerResponse>> write,
        CancellationToken cancellationToken)
    {
        if (request.IdempotencyKey is not { } key) return await write();

        var canonical = new ArrayBufferWriter<byte>();
        CanonicalJson.Write(body, canonical);
        var fingerprint = IdempotencyKeys.Fingerprint(context.Request.Method, context.Request.Path, context.Request.Headers.IfMatch, canonical.WrittenSpan);
        var claim = await idempotency.ClaimAsync(context, request.Caller, key, fingerprint, cancellationToken);
        if (!claim.Acquired) return claim.Answer!;

        LedgerResponse response;
        try
        {
            response = await write();
        }
        catch (Exception failure)
        {
            // Free the key so that a retry is processed. If the database is what failed, the release fails too and the
            // key's lease lapses instead: a retry within it is told to wait (409), one after it is processed.
            try
            {
                await idempotency.ReleaseAsync(request.Caller, key);
            }
            catch (Exception e) when (DatabaseUnavailable.IsUnavailable(e))
            {
                context.RequestServices.GetRequiredService<ILogger<IdempotencyKeys>>()
                    .LogWarning(e, "Could not release Idempotency-Key after {Failure}", failure.GetType().Name);
            }

            throw;
        }

        await idempotency.CompleteAsync(request.Caller, key, response, CancellationToken.None);
        return response;
    }

    private static long? ReadIfMatch(HttpContext context, EventEnvelopeReader errors)
    {
        var header = context.Request.Headers.IfMatch;
        if (header.Count == 0) return null;
        var text = header.Count == 1 ? header[0]!.Trim() : string.Empty;
        if (text.Length >= 2 && text[0] == '"' && text[^1] == '"') text = text[1..^1];
        if (long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var version)) return version;
        errors.Add("If-Match", "Must be the unit's version as an ETag, e.g. \"3\" (0 for a unit that must not exist yet).");
        return null;
    }

    private static string? ReadIdempotencyKey(HttpContext context, EventEnvelopeReader errors)
    {
        var header = context.Request.Headers[IdempotencyKeys.HeaderName];
        if (header.Count == 0) return null;
        var key = header.Count == 1 ? header[0]! : string.Empty;
        if (IdempotencyKeys.IsWellFormed(key)) return key;
        errors.Add(IdempotencyKeys.HeaderName, $"Must be 1 to {IdempotencyKeys.MaxKeyLength} visible ASCII characters, sent once (a UUID is a good key).");
        return null;
    }

    private static ApiKeyCaller Caller(HttpContext context) =>
        ApiKeyCaller.FromPrincipal(context.User) ?? throw new InvalidOperationException("A write endpoint was reached without an API key.");
}
