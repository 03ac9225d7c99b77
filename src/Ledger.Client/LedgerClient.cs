using System.Buffers;
using System.Globalization;
using System.Net.Http.Headers;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using Ledger.Production.Units;

namespace Ledger.Client;

/// <summary>
/// A typed client for the ledger's HTTP API (docs/api.md): line systems record events, reporting services read the read
/// models, auditors replay history.
/// </summary>
/// <remarks>
/// <para>
/// Every post carries an <c>Idempotency-Key</c>, made per call unless <see cref="RecordOptions.IdempotencyKey"/> gives
/// one, and sent unchanged on each retry: a post whose answer was lost is answered from the ledger's record on the retry,
/// and stored once. Transient failures are retried as <see cref="LedgerClientOptions.Retry"/> says; refusals never are.
/// </para>
/// <para>
/// Every error answer is thrown as a <see cref="LedgerProblemException"/> carrying the RFC 9457 problem. The client is
/// safe to share between threads; it does not own the <see cref="HttpClient"/> and does not dispose it.
/// </para>
/// </remarks>
public sealed class LedgerClient
{
    private const string JsonMediaType = "application/json";
    private readonly Transport _transport;

    /// <summary>Creates a client over <paramref name="http"/>.</summary>
    /// <param name="http">The HTTP client to send with (a test server's client works).</param>
    /// <param name="options">The ledger's address, the API key and the retry policy; defaults when null.</param>
    public LedgerClient(HttpClient http, LedgerClientOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(http);
        _transport = new Transport(http, options ?? new LedgerClientOptions());
    }

    // ---- Recording (line keys) ----

    /// <summary>Records one event for a unit (<c>POST /api/v1/units/{serial}/events</c>).</summary>
    /// <param name="serial">The unit's serial number.</param>
    /// <param name="event">The event.</param>
    /// <param name="options">Idempotency-Key, If-Match and correlation id; defaults when null.</param>
    /// <param name="cancellationToken">Cancels the call, retries included.</param>
    /// <returns>Where the event landed, and the unit's version now.</returns>
    /// <exception cref="LedgerProblemException">The ledger refused the event, or failed after every retry.</exception>
    public Task<UnitReceipt> RecordAsync(string serial, EventToRecord @event, RecordOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(@event);
        var body = Json(w => WriteEvent(w, null, @event.Data, @event.OccurredAt, @event.EventId));
        return PostUnitAsync(serial, body, options, cancellationToken);
    }

    /// <summary>Records events for one unit, in order, all or none (<c>POST /api/v1/units/{serial}/events</c>).</summary>
    /// <param name="serial">The unit's serial number.</param>
    /// <param name="events">1 to 1,000 events, oldest first.</param>
    /// <param name="options">Idempotency-Key, If-Match and correlation id; defaults when null.</param>
    /// <param name="cancellationToken">Cancels the call, retries included.</param>
    /// <returns>Where each event landed, and the unit's version now.</returns>
    /// <exception cref="LedgerProblemException">The ledger refused the events (none was recorded), or failed after every retry.</exception>
    public Task<UnitReceipt> RecordAsync(string serial, IReadOnlyList<EventToRecord> events, RecordOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(events);
        if (events.Count == 0) throw new ArgumentException("Give at least one event.", nameof(events));
        var body = Json(w =>
        {
            w.WriteStartArray();
            foreach (var e in events) WriteEvent(w, null, e.Data, e.OccurredAt, e.EventId);
            w.WriteEndArray();
        });
        return PostUnitAsync(serial, body, options, cancellationToken);
    }

    /// <summary>Records events for many units at once, all or none (<c>POST /api/v1/events</c>).</summary>
    /// <param name="events">1 to 1,000 events; each unit's in order, oldest first.</param>
    /// <param name="options">Idempotency-Key and correlation id (If-Match is for single-unit posts); defaults when null.</param>
    /// <param name="cancellationToken">Cancels the call, retries included.</param>
    /// <returns>Each unit touched and where its events landed.</returns>
    /// <exception cref="LedgerProblemException">The ledger refused the batch (none was recorded), or failed after every retry.</exception>
    public async Task<BatchReceipt> RecordBatchAsync(
        IReadOnlyList<UnitEventToRecord> events, RecordOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(events);
        if (events.Count == 0) throw new ArgumentException("Give at least one event.", nameof(events));
        if (options?.ExpectedVersion is not null)
        {
            throw new ArgumentException("If-Match (ExpectedVersion) applies to one unit's post, not to a batch across units.", nameof(options));
        }

        var body = Json(w =>
        {
            w.WriteStartObject();
            w.WriteStartArray("events");
            foreach (var e in events) WriteEvent(w, e.Serial, e.Data, e.OccurredAt, e.EventId);
            w.WriteEndArray();
            w.WriteEndObject();
        });
        using var response = await PostAsync("api/v1/events", body, options, cancellationToken);
        return await Transport.ReadAsync<BatchReceipt>(response, cancellationToken);
    }

    private async Task<UnitReceipt> PostUnitAsync(string serial, byte[] body, RecordOptions? options, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(serial);
        using var response = await PostAsync($"api/v1/units/{Uri.EscapeDataString(serial)}/events", body, options, cancellationToken);
        return await Transport.ReadAsync<UnitReceipt>(response, cancellationToken);
    }

    private Task<HttpResponseMessage> PostAsync(string path, byte[] body, RecordOptions? options, CancellationToken cancellationToken)
    {
        // Fixed before the first attempt, so that every retry of this call presents the same key.
        var idempotencyKey = options?.IdempotencyKey ?? Guid.CreateVersion7().ToString();
        return _transport.SendAsync(HttpMethod.Post, path, request =>
        {
            request.Content = new ByteArrayContent(body) { Headers = { ContentType = new MediaTypeHeaderValue(JsonMediaType) } };
            request.Headers.Add("Idempotency-Key", idempotencyKey);
            if (options?.ExpectedVersion is { } version)
            {
                request.Headers.IfMatch.Add(new EntityTagHeaderValue($"\"{version.ToString(CultureInfo.InvariantCulture)}\""));
            }

            if (options?.CorrelationId is { } correlationId) request.Headers.Add(Transport.CorrelationHeader, correlationId);
        }, cancellationToken);
    }

    private static byte[] Json(Action<Utf8JsonWriter> write)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            write(writer);
        }

        return buffer.WrittenSpan.ToArray();
    }

    private static void WriteEvent(Utf8JsonWriter writer, string? serial, IUnitEvent data, DateTimeOffset occurredAt, Guid? eventId)
    {
        ArgumentNullException.ThrowIfNull(data);
        writer.WriteStartObject();
        if (serial is not null) writer.WriteString("serial", serial);
        if (eventId is { } id) writer.WriteString("eventId", id.ToString("D"));
        writer.WriteString("type", UnitEvents.Of(data).ApiName);
        // RFC 3339 with the sender's offset, as docs/api.md asks; .FFFFFFF drops a zero fraction together with its point.
        writer.WriteString("occurredAt", occurredAt.ToString("yyyy-MM-dd'T'HH:mm:ss.FFFFFFFzzz", CultureInfo.InvariantCulture));
        writer.WritePropertyName("data");
        writer.WriteRawValue(UnitEvents.Serialize(data), skipInputValidation: true);
        writer.WriteEndObject();
    }

    // ---- Reading (reporting, auditor and any key) ----

    /// <summary>The key this client is using (<c>GET /api/v1/whoami</c>).</summary>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The key's id, name, role and factory.</returns>
    public async Task<KeyIdentity> WhoAmIAsync(CancellationToken cancellationToken = default) =>
        (await _transport.GetAsync<KeyIdentity>("api/v1/whoami", null, cancellationToken)).Value!;

    /// <summary>The factory registry (<c>GET /api/v1/factories</c>).</summary>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>Every factory, ordered by id.</returns>
    public async Task<IReadOnlyList<FactoryInfo>> GetFactoriesAsync(CancellationToken cancellationToken = default) =>
        (await _transport.GetAsync<List<FactoryInfo>>("api/v1/factories", null, cancellationToken)).Value!;

    /// <summary>A unit's status now (<c>GET /api/v1/units/{serial}</c>; reporting).</summary>
    /// <param name="serial">The unit's serial number.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The unit's status, or null when it has no history.</returns>
    public Task<UnitStatus?> GetUnitAsync(string serial, CancellationToken cancellationToken = default) =>
        GetUnitAsync(serial, string.Empty, cancellationToken);

    /// <summary>A unit's status as it was at a moment: its events that occurred by then, folded (time travel).</summary>
    /// <param name="serial">The unit's serial number.</param>
    /// <param name="asOf">The moment.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The unit's status then, or null when it had no history then.</returns>
    public Task<UnitStatus?> GetUnitAsOfAsync(string serial, DateTimeOffset asOf, CancellationToken cancellationToken = default) =>
        GetUnitAsync(serial, "?asOf=" + Uri.EscapeDataString(asOf.ToString("O", CultureInfo.InvariantCulture)), cancellationToken);

    /// <summary>A unit's status as it was after its <paramref name="version"/>-th event.</summary>
    /// <param name="serial">The unit's serial number.</param>
    /// <param name="version">A stream version, 1 or more.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The unit's status then, or null when it has no history.</returns>
    public Task<UnitStatus?> GetUnitAtVersionAsync(string serial, long version, CancellationToken cancellationToken = default) =>
        GetUnitAsync(serial, "?version=" + version.ToString(CultureInfo.InvariantCulture), cancellationToken);

    private async Task<UnitStatus?> GetUnitAsync(string serial, string query, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(serial);
        return (await _transport.GetAsync<UnitStatus>($"api/v1/units/{Uri.EscapeDataString(serial)}{query}", LedgerProblemTypes.UnitNotFound, cancellationToken)).Value;
    }

    /// <summary>One page of units (<c>GET /api/v1/units</c>; reporting).</summary>
    /// <param name="query">Filters and page size; every unit when null.</param>
    /// <param name="cursor">A previous page's <see cref="UnitPage.Next"/>; null for the first page.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The page.</returns>
    public async Task<UnitPage> GetUnitPageAsync(UnitQuery? query = null, string? cursor = null, CancellationToken cancellationToken = default)
    {
        var q = new Query()
            .Add("factory", query?.FactoryId).Add("state", query?.State).Add("region", query?.Region).Add("country", query?.Country)
            .Add("from", query?.BuiltFrom).Add("to", query?.BuiltTo).Add("limit", query?.PageSize).Add("cursor", cursor);
        return (await _transport.GetAsync<UnitPage>("api/v1/units" + q, null, cancellationToken)).Value!;
    }

    /// <summary>Every unit matching <paramref name="query"/>, in serial order, page after page as they are enumerated.</summary>
    /// <param name="query">Filters and page size; every unit when null.</param>
    /// <param name="cancellationToken">Cancels the enumeration.</param>
    /// <returns>The units.</returns>
    public async IAsyncEnumerable<UnitStatus> ListUnitsAsync(UnitQuery? query = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        string? cursor = null;
        do
        {
            var page = await GetUnitPageAsync(query, cursor, cancellationToken);
            foreach (var unit in page.Units) yield return unit;
            cursor = page.Next;
        }
        while (cursor is not null);
    }

    /// <summary>A unit's whole history, with who recorded each event (<c>GET /api/v1/units/{serial}/events</c>; auditor).</summary>
    /// <param name="serial">The unit's serial number.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The history, or null when the unit has none.</returns>
    public async Task<UnitHistory?> GetUnitHistoryAsync(string serial, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(serial);
        return (await _transport.GetAsync<UnitHistory>($"api/v1/units/{Uri.EscapeDataString(serial)}/events", LedgerProblemTypes.UnitNotFound, cancellationToken)).Value;
    }

    /// <summary>A factory's throughput per bucket (<c>GET /api/v1/factories/{id}/throughput</c>; reporting).</summary>
    /// <param name="factoryId">The factory.</param>
    /// <param name="query">Range, bucket and minimum position; the ledger's defaults when null.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The buckets, with the position they reflect.</returns>
    public async Task<FactoryThroughput> GetThroughputAsync(string factoryId, ThroughputQuery? query = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(factoryId);
        var q = new Query().Add("from", query?.From).Add("to", query?.To).Add("bucket", query?.Bucket).Add("minPosition", query?.MinPosition);
        var (value, headers) = await _transport.GetAsync<FactoryThroughput>($"api/v1/factories/{Uri.EscapeDataString(factoryId)}/throughput{q}", null, cancellationToken);
        return value! with { Freshness = Transport.Freshness(headers) };
    }

    /// <summary>A factory's first and every 1,000th unit, and its first shipment to each region (reporting).</summary>
    /// <param name="factoryId">The factory.</param>
    /// <param name="minPosition">Wait (up to 5 seconds) until the read model has reached this position.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The milestones, with the position they reflect.</returns>
    public async Task<FactoryMilestones> GetMilestonesAsync(string factoryId, long? minPosition = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(factoryId);
        var q = new Query().Add("minPosition", minPosition);
        var (value, headers) = await _transport.GetAsync<FactoryMilestones>($"api/v1/factories/{Uri.EscapeDataString(factoryId)}/milestones{q}", null, cancellationToken);
        return value! with { Freshness = Transport.Freshness(headers) };
    }

    /// <summary>Units and MWh shipped, delivered and commissioned per group and bucket, and in transit now (reporting).</summary>
    /// <param name="query">Grouping, bucket, range, region and minimum position; the ledger's defaults when null.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The deployments, with the position they reflect.</returns>
    public async Task<Deployments> GetDeploymentsAsync(DeploymentsQuery? query = null, CancellationToken cancellationToken = default)
    {
        var q = new Query().Add("groupBy", query?.GroupBy).Add("bucket", query?.Bucket).Add("from", query?.From).Add("to", query?.To)
            .Add("region", query?.Region).Add("minPosition", query?.MinPosition);
        var (value, headers) = await _transport.GetAsync<Deployments>("api/v1/deployments" + q, null, cancellationToken);
        return value! with { Freshness = Transport.Freshness(headers) };
    }

    /// <summary>Where each read model stands: position, lag, owner, failure, rebuild (<c>GET /api/v1/projections</c>; auditor).</summary>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>Every projection, the inline <c>unit-status</c> first.</returns>
    public async Task<IReadOnlyList<ProjectionStatus>> GetProjectionsAsync(CancellationToken cancellationToken = default) =>
        (await _transport.GetAsync<List<ProjectionStatus>>("api/v1/projections", null, cancellationToken)).Value!;

    /// <summary>One page of the global feed in commit order (<c>GET /api/v1/events</c>; auditor).</summary>
    /// <param name="query">Where to start, page size and filters; from the start when null.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The page and the cursor after it.</returns>
    public async Task<FeedPage> ReadFeedPageAsync(FeedQuery? query = null, CancellationToken cancellationToken = default)
    {
        var q = new Query().Add("after", query?.After).Add("limit", query?.PageSize)
            .Add("type", query?.Types is { Count: > 0 } types ? string.Join(',', types) : null).Add("factory", query?.FactoryId);
        return (await _transport.GetAsync<FeedPage>("api/v1/events" + q, null, cancellationToken)).Value!;
    }

    /// <summary>
    /// The global feed in commit order from <see cref="FeedQuery.After"/>, page after page as it is enumerated, up to the
    /// first empty page. Events committed later appear after the last event's <see cref="FeedEvent.Cursor"/>: to follow the
    /// feed, enumerate again from there.
    /// </summary>
    /// <param name="query">Where to start, page size and filters; from the start when null.</param>
    /// <param name="cancellationToken">Cancels the enumeration.</param>
    /// <returns>The events.</returns>
    public async IAsyncEnumerable<FeedEvent> ReadFeedAsync(FeedQuery? query = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        query ??= new FeedQuery();
        while (true)
        {
            var page = await ReadFeedPageAsync(query, cancellationToken);
            if (page.Events.Count == 0) yield break;
            foreach (var e in page.Events) yield return e;
            query = query with { After = page.Next };
        }
    }

    // ---- Dead letters (admin keys) ----

    /// <summary>
    /// The messages the ledger gave up on after their retries, newest first (<c>GET /api/v1/dead-letters</c>; admin).
    /// </summary>
    /// <param name="messageType">Only this message type (<c>ledger.unit-shipped.v1</c>); all when null.</param>
    /// <param name="limit">Page size, 1 to 500; the ledger's default (100) when null.</param>
    /// <param name="page">Page number from 0.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The page, and how many match in all.</returns>
    public async Task<DeadLetterPage> GetDeadLettersAsync(string? messageType = null, int? limit = null, int page = 0, CancellationToken cancellationToken = default)
    {
        var q = new Query().Add("messageType", messageType).Add("limit", limit).Add("page", page);
        return (await _transport.GetAsync<DeadLetterPage>("api/v1/dead-letters" + q, null, cancellationToken)).Value!;
    }

    /// <summary>Marks dead letters for replay (<c>POST /api/v1/dead-letters/replay</c>; admin).</summary>
    /// <param name="ids">The dead letters' ids (1 to 1,000).</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The ids marked for replay, and those that are not dead letters.</returns>
    public async Task<DeadLettersReplayed> ReplayDeadLettersAsync(IReadOnlyList<Guid> ids, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var body = Json(w =>
        {
            w.WriteStartObject();
            w.WriteStartArray("ids");
            foreach (var id in ids) w.WriteStringValue(id);
            w.WriteEndArray();
            w.WriteEndObject();
        });
        using var response = await _transport.SendAsync(HttpMethod.Post, "api/v1/dead-letters/replay",
            request => request.Content = new ByteArrayContent(body) { Headers = { ContentType = new MediaTypeHeaderValue(JsonMediaType) } },
            cancellationToken);
        return await Transport.ReadAsync<DeadLettersReplayed>(response, cancellationToken);
    }

    /// <summary>Deletes a dead letter: it will not be delivered (<c>DELETE /api/v1/dead-letters/{id}</c>; admin).</summary>
    /// <param name="id">The dead letter's id.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <returns>The dead letter as it was.</returns>
    /// <exception cref="LedgerProblemException">No dead letter has that id (404), among others.</exception>
    public async Task<DeadLetter> DiscardDeadLetterAsync(Guid id, CancellationToken cancellationToken = default)
    {
        using var response = await _transport.SendAsync(HttpMethod.Delete, $"api/v1/dead-letters/{id}", null, cancellationToken);
        return await Transport.ReadAsync<DeadLetter>(response, cancellationToken);
    }

    /// <summary>A query string built from the parameters that have values, each escaped.</summary>
    private sealed class Query
    {
        private readonly StringBuilder _text = new();

        public Query Add(string name, string? value)
        {
            if (value is null) return this;
            _text.Append(_text.Length == 0 ? '?' : '&').Append(name).Append('=').Append(Uri.EscapeDataString(value));
            return this;
        }

        public Query Add(string name, long? value) => Add(name, value?.ToString(CultureInfo.InvariantCulture));

        public Query Add(string name, DateOnly? value) => Add(name, value?.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture));

        public Query Add(string name, DateTimeOffset? value) => Add(name, value?.ToString("O", CultureInfo.InvariantCulture));

        public override string ToString() => _text.ToString();
    }
}
