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
using Wolverine;
using Wolverine.Http;

namespace Ledger.Api.Features.Units.RecordEvents;

/// <summary>
/// <c>POST /api/v1/units/{serial}/events</c> and <c>POST /api/v1/events</c>: how line systems record what happened, as
/// Wolverine.Http endpoints. Each reads its request into a <see cref="RecordEvents"/> command and invokes it through
/// Wolverine (validator first, then <see cref="RecordEventsHandler"/>), under the request's Idempotency-Key. Both are
/// atomic: every event of a request is recorded, or none. Hand-written rather than bound by Wolverine: the body is one
/// event, an array or a batch, read with every problem named by field path, and <c>If-Match</c> carries the version.
/// </summary>
public static class RecordEventsEndpoints
{
    /// <summary>At most this many events in one request (documented in docs/api.md).</summary>
    public const int MaxEventsPerRequest = 1_000;

    /// <summary>Body limit of <c>POST /units/{serial}/events</c>.</summary>
    public const long MaxUnitBodyBytes = 1024 * 1024;

    /// <summary>Body limit of <c>POST /events</c>.</summary>
    public const long MaxBatchBodyBytes = 4 * 1024 * 1024;

    /// <summary>The problem detail of a 400: nothing was recorded.</summary>
    internal const string InvalidDetail = "No event was recorded; fix the fields named in errors.";

    /// <summary>Sends the command through Wolverine, under the request's Idempotency-Key, and answers what became of it.</summary>
    internal static async Task<LedgerResponse> RecordAsync(
        HttpContext context, RecordEvents command, JsonElement body, IMessageBus bus, IdempotencyKeys idempotency,
        Func<IReadOnlyList<UnitReceipt>, LedgerResponse> created, CancellationToken cancellationToken)
    {
        return await WriteOnceAsync(context, command, body, idempotency, async () =>
        {
            var outcome = await bus.InvokeAsync<RecordEventsOutcome>(command, cancellationToken);
            if (outcome.Errors is { } errors) return LedgerResponse.Validation(context, errors.ToDictionary(), InvalidDetail);
            if (outcome.Refusal is { } refusal)
            {
                return LedgerResponse.Problem(context, refusal.Status, refusal.Type, refusal.Title, refusal.Detail, refusal.Extensions.ToDictionary());
            }

            return created(outcome.Units!);
        }, cancellationToken);
    }

    /// <summary>Runs the write under the request's Idempotency-Key, if it has one.</summary>
    private static async Task<LedgerResponse> WriteOnceAsync(
        HttpContext context, RecordEvents request, JsonElement body, IdempotencyKeys idempotency, Func<Task<LedgerResponse>> write,
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

    internal static long? ReadIfMatch(HttpContext context, EventEnvelopeReader errors)
    {
        var header = context.Request.Headers.IfMatch;
        if (header.Count == 0) return null;
        var text = header.Count == 1 ? header[0]!.Trim() : string.Empty;
        if (text.Length >= 2 && text[0] == '"' && text[^1] == '"') text = text[1..^1];
        if (long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var version)) return version;
        errors.Add("If-Match", "Must be the unit's version as an ETag, e.g. \"3\" (0 for a unit that must not exist yet).");
        return null;
    }

    internal static string? ReadIdempotencyKey(HttpContext context, EventEnvelopeReader errors)
    {
        var header = context.Request.Headers[IdempotencyKeys.HeaderName];
        if (header.Count == 0) return null;
        var key = header.Count == 1 ? header[0]! : string.Empty;
        if (IdempotencyKeys.IsWellFormed(key)) return key;
        errors.Add(IdempotencyKeys.HeaderName, $"Must be 1 to {IdempotencyKeys.MaxKeyLength} visible ASCII characters, sent once (a UUID is a good key).");
        return null;
    }

    internal static ApiKeyCaller Caller(HttpContext context) =>
        ApiKeyCaller.FromPrincipal(context.User) ?? throw new InvalidOperationException("A write endpoint was reached without an API key.");
}

/// <summary><c>POST /api/v1/units/{serial}/events</c>: one event, or an array of events, for one unit.</summary>
public static class RecordUnitEventsEndpoint
{
    public static void Configure(HttpChain chain)
    {
        ArgumentNullException.ThrowIfNull(chain);
        chain.Metadata
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
    }

    [WolverinePost("/api/v1/units/{serial}/events")]
    public static async Task<LedgerResponse> PostAsync(
        string serial, HttpContext context, IMessageBus bus, IdempotencyKeys idempotency, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        var errors = new EventEnvelopeReader();
        if (!Serial.TryParse(serial, out var unit, out var serialError)) errors.Add("serial", serialError);
        var ifMatch = RecordEventsEndpoints.ReadIfMatch(context, errors);
        var key = RecordEventsEndpoints.ReadIdempotencyKey(context, errors);
        if (errors.HasErrors) return LedgerResponse.Validation(context, errors.Errors, "Fix the fields named in errors and send again.");

        var (document, refusal) = await RequestBody.ReadJsonAsync(context, RecordEventsEndpoints.MaxUnitBodyBytes);
        if (refusal is not null) return refusal;
        using (document)
        {
            var root = document!.RootElement;
            var events = new List<ProposedEvent>();
            if (root.ValueKind == JsonValueKind.Array)
            {
                var count = root.GetArrayLength();
                if (count is 0 or > RecordEventsEndpoints.MaxEventsPerRequest) errors.Add("$", $"Send 1 to {RecordEventsEndpoints.MaxEventsPerRequest} events; this array has {count}.");
                else events.AddRange(root.EnumerateArray().Select((e, i) => errors.Read(e, i, $"[{i}]", unit)).OfType<ProposedEvent>());
            }
            else if (errors.Read(root, 0, string.Empty, unit) is { } single)
            {
                events.Add(single);
            }

            var command = new RecordEvents(RecordEventsEndpoints.Caller(context), events, ifMatch, key, context.GetCorrelationId())
            {
                Unreadable = errors.Errors.AsReadOnly(),
                PartlyRead = errors.PartlyRead,
            };
            return await RecordEventsEndpoints.RecordAsync(context, command, root, bus, idempotency, units =>
            {
                var receipt = units[0];
                return LedgerResponse.Created(receipt, $"/api/v1/units/{receipt.Serial}", receipt.Version);
            }, cancellationToken);
        }
    }
}

/// <summary><c>POST /api/v1/events</c>: events for many units at once.</summary>
public static class RecordBatchEndpoint
{
    public static void Configure(HttpChain chain)
    {
        ArgumentNullException.ThrowIfNull(chain);
        chain.Metadata
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
    }

    [WolverinePost("/api/v1/events")]
    public static async Task<LedgerResponse> PostAsync(HttpContext context, IMessageBus bus, IdempotencyKeys idempotency, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        var errors = new EventEnvelopeReader();
        var key = RecordEventsEndpoints.ReadIdempotencyKey(context, errors);
        if (errors.HasErrors) return LedgerResponse.Validation(context, errors.Errors, "Fix the fields named in errors and send again.");

        var (document, refusal) = await RequestBody.ReadJsonAsync(context, RecordEventsEndpoints.MaxBatchBodyBytes);
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
                if (count is 0 or > RecordEventsEndpoints.MaxEventsPerRequest) errors.Add("events", $"Send 1 to {RecordEventsEndpoints.MaxEventsPerRequest} events; this batch has {count}.");
                else events.AddRange(array.EnumerateArray().Select((e, i) => errors.Read(e, i, $"events[{i}]", serial: null)).OfType<ProposedEvent>());
            }

            var command = new RecordEvents(RecordEventsEndpoints.Caller(context), events, IfMatch: null, key, context.GetCorrelationId())
            {
                Unreadable = errors.Errors.AsReadOnly(),
                PartlyRead = errors.PartlyRead,
            };
            return await RecordEventsEndpoints.RecordAsync(context, command, root, bus, idempotency,
                units => LedgerResponse.Created(new BatchReceipt(units, units.Max(u => u.Position)), location: null, version: null), cancellationToken);
        }
    }
}
