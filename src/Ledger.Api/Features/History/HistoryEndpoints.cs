using System.Globalization;
using System.Text.Json;
using Ledger.Api.Access;
using Ledger.Api.Http;
using Ledger.Api.ServiceDefaults;
using Ledger.Api.ServiceDefaults.OpenApi;
using Ledger.EventStore;
using Ledger.Production.Factories;
using Ledger.Production.Units;
using Ledger.ReadModels;

namespace Ledger.Api.Features.History;

/// <summary>One recorded event as auditors read it: the fact, who recorded it, when, where it sits, and its hash.</summary>
public sealed record HistoryEvent(
    long Position, string Cursor, Guid EventId, string Serial, long Version, string Type, string StoredType, JsonElement Data,
    DateTimeOffset OccurredAt, DateTimeOffset RecordedAt, string? Actor, string? ActorId, string? CorrelationId, string? IdempotencyKey, string Hash)
{
    internal static HistoryEvent From(RecordedEvent e)
    {
        using var data = JsonDocument.Parse(e.Data);
        var metadata = e.Metadata;
        return new HistoryEvent(e.Position, FeedCursors.Encode(e.Cursor), e.EventId, e.StreamId, e.StreamVersion,
            UnitEvents.TryFindByStoredName(e.Type, out var type) ? type.ApiName : e.Type, e.Type, data.RootElement.Clone(),
            e.OccurredAt, e.RecordedAt, metadata.Actor, metadata.ActorId, metadata.CorrelationId, metadata.IdempotencyKey,
            Convert.ToHexStringLower(e.Hash.Span));
    }
}

/// <summary>A unit's whole history.</summary>
public sealed record UnitHistoryResponse(string Serial, long Version, IReadOnlyList<HistoryEvent> Events);

/// <summary>A page of the global feed.</summary>
/// <param name="Events">Events in feed (position) order.</param>
/// <param name="Next">Pass as <c>after</c> for the next page (also when this page was empty: new events come after it).</param>
public sealed record FeedResponse(IReadOnlyList<HistoryEvent> Events, string Next);

/// <summary>
/// Feed cursors as clients see them: opaque (base64url of <c>f:</c> and the position). The previous release's cursors
/// decode to <c>f:transactionId.position</c>; its feed ran in (transaction id, position) order, so no position of today's
/// feed means "everything before it was delivered" for such a cursor, and it is refused with a hint, never translated.
/// </summary>
internal static class FeedCursors
{
    public static string Encode(FeedCursor cursor) => OpaqueCursor.Encode("f", cursor.ToString());

    public static bool TryDecode(string text, out FeedCursor cursor) => TryDecode(text, out cursor, out _);

    /// <summary>Decodes a cursor; <paramref name="fromPreviousRelease"/> tells a cursor of the own-store release apart from garbage.</summary>
    public static bool TryDecode(string text, out FeedCursor cursor, out bool fromPreviousRelease)
    {
        cursor = FeedCursor.Start;
        fromPreviousRelease = false;
        if (!OpaqueCursor.TryDecode("f", text, out var value)) return false;
        if (FeedCursor.TryParse(value, out cursor)) return true;
        var dot = value.IndexOf('.', StringComparison.Ordinal);
        fromPreviousRelease = dot > 0
            && ulong.TryParse(value.AsSpan(0, dot), NumberStyles.None, CultureInfo.InvariantCulture, out _)
            && long.TryParse(value.AsSpan(dot + 1), NumberStyles.None, CultureInfo.InvariantCulture, out _);
        return false;
    }
}

/// <summary>
/// <c>GET /api/v1/units/{serial}/events</c> and <c>GET /api/v1/events</c>: replaying history, for auditors.
/// </summary>
public static class HistoryEndpoints
{
    public const int DefaultPageSize = 500;
    public const int MaxPageSize = 5_000;
    public const string NdJson = "application/x-ndjson";
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public static RouteGroupBuilder MapHistory(this RouteGroupBuilder api)
    {
        ArgumentNullException.ThrowIfNull(api);
        api.MapGet("/units/{serial}/events", UnitHistoryAsync)
            .WithName("GetUnitHistory")
            .WithSummary("A unit's full history with who recorded each event, when, its place in the feed and its hash.")
            .WithDescription("""
                Every event of the unit in version order, as recorded: the fact, its actor (the API key's name and id), the
                request's correlation id, when it occurred and was recorded, its global position and its SHA-256 hash,
                chained to the unit's previous event (docs/architecture.md). `ETag` is the unit's version.
                """)
            .WithParameter("serial", "The unit's serial (trimmed, upper-cased).")
            .WithResponseExample(StatusCodes.Status200OK, HistoryExamples.UnitHistory)
            .Produces<UnitHistoryResponse>()
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status404NotFound)
            .RequireRole(LedgerRole.Auditor);
        api.MapGet("/events", FeedAsync)
            .WithName("ReadFeed")
            .WithSummary("The global feed in position order (gap-free) after a cursor, filtered by type and factory; NDJSON streams it all.")
            .WithDescription("""
                Gap-free: an event whose transaction commits late is never skipped (the feed stops below it until it
                commits). `next` is the opaque cursor to pass as `after` (also after an empty page: new events arrive after
                it). A cursor given out before the store moved to Marten is refused (400, naming `after`): read from the
                start again. With `Accept: application/x-ndjson` the whole feed after `after` is streamed, one event per
                line, page by page from the database.
                """)
            .WithParameter("after", "The `next` of the previous page (absent: from the beginning).")
            .WithParameter("limit", "Events per page, 1 to 5,000 (default 500); ignored when streaming NDJSON.")
            .WithParameter("type", "Only these event types, comma-separated (UnitShipped,UnitDelivered).")
            .WithParameter("factory", "Only the units of this factory.")
            .WithResponseExample(StatusCodes.Status200OK, HistoryExamples.Feed)
            .WithResponseExample(StatusCodes.Status200OK, HistoryExamples.FeedNdJson, NdJson)
            .Produces<FeedResponse>()
            .ProducesValidationProblem()
            .RequireRole(LedgerRole.Auditor);
        return api;
    }

    private static async Task<IResult> UnitHistoryAsync(string serial, HttpContext context, EventStore.EventStore store, CancellationToken cancellationToken)
    {
        if (!Serial.TryParse(serial, out var unit, out var error))
        {
            return LedgerResponse.Validation(context, new Dictionary<string, string[]> { ["serial"] = [error] }, "Fix the serial.");
        }

        var events = await store.ReadStreamAsync(unit.Value, cancellationToken: cancellationToken);
        if (events.Count == 0)
        {
            return LedgerResponse.Problem(context, StatusCodes.Status404NotFound, ProblemTypes.UnitNotFound, "No such unit.", $"Unit {unit.Value} has no history.");
        }

        context.Response.Headers.ETag = $"\"{events[^1].StreamVersion}\"";
        return TypedResults.Ok(new UnitHistoryResponse(unit.Value, events[^1].StreamVersion, [.. events.Select(HistoryEvent.From)]));
    }

    private static async Task<IResult> FeedAsync(
        string? after, string? limit, string? type, string? factory, HttpContext context, EventStore.EventStore store,
        UnitStatusQuery units, IFactoryRegistry factories, CancellationToken cancellationToken)
    {
        var errors = new Dictionary<string, string[]>(StringComparer.Ordinal);
        var cursor = FeedCursor.Start;
        if (after is not null && !FeedCursors.TryDecode(after, out cursor, out var fromPreviousRelease))
        {
            errors["after"] = [fromPreviousRelease
                ? "A cursor of the previous release, whose feed ran in another order: read the feed again from the start (no after) and skip the event ids you already have."
                : "Not a cursor the feed gave out."];
        }
        var size = DefaultPageSize;
        if (limit is not null && (!int.TryParse(limit, NumberStyles.None, CultureInfo.InvariantCulture, out size) || size is < 1 or > MaxPageSize))
        {
            errors["limit"] = [$"Must be 1 to {MaxPageSize}."];
        }

        string[]? types = null;
        if (type is not null)
        {
            types = [.. type.Split(',').Select(t => UnitEvents.TryFindByApiName(t.Trim(), out var found) ? found.StoredName : null).OfType<string>()];
            if (types.Length != type.Split(',').Length) errors["type"] = [$"Must be event types: {string.Join(", ", UnitEvents.All.Select(t => t.ApiName))}."];
        }

        if (factory is not null && !factories.TryFind(factory, out _)) errors["factory"] = [$"Unknown factory '{factory}'."];
        if (errors.Count > 0) return LedgerResponse.Validation(context, errors, "Fix the query parameters named in errors.");

        var filter = new FeedFilter(store, units, types, factory);
        if (AcceptsNdJson(context.Request))
        {
            // Bulk replay: page after page straight to the response, never the whole feed in memory.
            context.Response.ContentType = NdJson;
            await foreach (var e in filter.ReadAllAsync(cursor, cancellationToken))
            {
                await context.Response.WriteAsync(JsonSerializer.Serialize(HistoryEvent.From(e), Json) + "\n", cancellationToken);
            }

            return TypedResults.Empty;
        }

        var (events, next) = await filter.ReadPageAsync(cursor, size, cancellationToken);
        return TypedResults.Ok(new FeedResponse([.. events.Select(HistoryEvent.From)], FeedCursors.Encode(next)));
    }

    private static bool AcceptsNdJson(HttpRequest request) =>
        request.Headers.Accept.Any(a => a?.Contains(NdJson, StringComparison.OrdinalIgnoreCase) == true);

    /// <summary>
    /// The feed narrowed to some types and to one factory's units (the factory of a unit never changes). The factories of
    /// a page's units are looked up in one round trip: with one query per unit, a request for a factory with few units
    /// over 15,000 others outlasted the reliability suite's fuzzer's 30-second timeout (found by its long mode).
    /// </summary>
    private sealed class FeedFilter(EventStore.EventStore store, UnitStatusQuery units, string[]? types, string? factory)
    {
        private const int ReadSize = 1_000;
        private readonly Dictionary<string, string?> _factoryOf = new(StringComparer.Ordinal);

        public async Task<(List<RecordedEvent> Events, FeedCursor Next)> ReadPageAsync(FeedCursor after, int size, CancellationToken cancellationToken)
        {
            var matches = new List<RecordedEvent>(size);
            while (matches.Count < size)
            {
                var page = await store.ReadFeedAsync(after, Math.Max(size, ReadSize), types, cancellationToken);
                await LearnFactoriesAsync(page.Events, cancellationToken);
                foreach (var e in page.Events)
                {
                    after = e.Cursor;
                    if (Matches(e)) matches.Add(e);
                    if (matches.Count == size) return (matches, after);
                }

                if (page.Events.Count == 0) break;
            }

            return (matches, after);
        }

        public async IAsyncEnumerable<RecordedEvent> ReadAllAsync(FeedCursor after, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
        {
            while (true)
            {
                var page = await store.ReadFeedAsync(after, ReadSize, types, cancellationToken);
                if (page.Events.Count == 0) yield break;
                await LearnFactoriesAsync(page.Events, cancellationToken);
                foreach (var e in page.Events)
                {
                    if (Matches(e)) yield return e;
                }

                after = page.Next;
            }
        }

        private async Task LearnFactoriesAsync(IReadOnlyList<RecordedEvent> events, CancellationToken cancellationToken)
        {
            if (factory is null) return;
            var unknown = events.Select(e => e.StreamId).Where(s => !_factoryOf.ContainsKey(s)).Distinct(StringComparer.Ordinal).ToList();
            if (unknown.Count == 0) return;
            var found = await units.FactoriesOfAsync(unknown, cancellationToken);
            foreach (var serial in unknown) _factoryOf[serial] = found.GetValueOrDefault(serial);
        }

        private bool Matches(RecordedEvent e) => factory is null || _factoryOf[e.StreamId] == factory;
    }
}
