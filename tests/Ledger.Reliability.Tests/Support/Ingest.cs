using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Ledger.Reliability.Tests.Support;

/// <summary>What finally became of a request: the client's knowledge, which the ledger is then compared with.</summary>
internal enum BatchOutcome
{
    /// <summary>Not settled yet.</summary>
    Pending,

    /// <summary>201: the ledger promised to keep every event of it.</summary>
    Acknowledged,

    /// <summary>A 4xx that will not change: the ledger must have stored none of it.</summary>
    Refused,

    /// <summary>Cut off (crash, outage) and not retried: the ledger may have stored all of it or none, never part.</summary>
    Unknown,
}

/// <summary>One request of a writer, retried until it settles.</summary>
internal sealed class SentBatch(int id, int writer, IReadOnlyList<PlannedEvent> events, bool withEventIds)
{
    public int Id { get; } = id;
    public int Writer { get; } = writer;
    public IReadOnlyList<PlannedEvent> Events { get; } = events;

    /// <summary>Events carry ids the client chose, so a retry is safe with any Idempotency-Key; otherwise the key is the only guard.</summary>
    public bool WithEventIds { get; } = withEventIds;

    public Guid?[] EventIds { get; } = [.. events.Select(_ => withEventIds ? Guid.CreateVersion7() : (Guid?)null)];
    public string IdempotencyKey { get; set; } = Guid.NewGuid().ToString();
    public BatchOutcome Outcome { get; set; }
    public int FinalStatus { get; set; }
    public string? FinalProblemType { get; set; }

    /// <summary>From the 201 receipt, per event: the id, version and position the ledger reported.</summary>
    public (Guid EventId, long Version, long Position)[]? Receipt { get; set; }
}

/// <summary>One HTTP attempt, for the outage and latency checks.</summary>
internal sealed record Attempt(
    int Batch, string Node, DateTimeOffset SentAt, TimeSpan Duration, int Status, string? ContentType, string? RetryAfter, string? Error);

/// <summary>The client-side record: every batch, what became of it, and every attempt.</summary>
internal sealed class Recorder
{
    private int _nextBatch;

    public ConcurrentQueue<SentBatch> Batches { get; } = new();
    public ConcurrentQueue<Attempt> Attempts { get; } = new();

    public int NextBatchId() => Interlocked.Increment(ref _nextBatch);

    public IEnumerable<SentBatch> WithOutcome(BatchOutcome outcome) => Batches.Where(b => b.Outcome == outcome);

    public int AcknowledgedEvents => WithOutcome(BatchOutcome.Acknowledged).Sum(b => b.Events.Count);

    public void AddTo(RunSummary summary)
    {
        var attempts = Attempts.ToArray();
        summary.Add("requests sent", attempts.Length);
        summary.Add("batches", Batches.Count);
        summary.Add("events acknowledged", AcknowledgedEvents);
        summary.Add("batches refused (4xx)", WithOutcome(BatchOutcome.Refused).Count());
        summary.Add("batches of unknown fate (cut off, not retried)", WithOutcome(BatchOutcome.Unknown).Count());
        summary.Add("answers 5xx", attempts.Count(a => a.Status >= 500));
        summary.Add("answers 500 (server error, never expected)", attempts.Count(a => a.Status == 500));
        summary.Add("requests refused a connection (node down)", attempts.Count(a => a.Status == 0 && a.Error?.StartsWith(nameof(HttpRequestError.ConnectionError), StringComparison.Ordinal) == true));
        summary.Add("requests cut off after sending (answer lost)", attempts.Count(a => a.Status == 0 && a.Error?.StartsWith(nameof(HttpRequestError.ConnectionError), StringComparison.Ordinal) != true));
        summary.Add("longest request", attempts.Length == 0 ? TimeSpan.Zero : attempts.Max(a => a.Duration));
    }
}

/// <summary>
/// Line systems posting the <see cref="Workload"/> concurrently, each writer owning its units, each request a batch of one
/// or more units' next events. A writer retries what it may safely retry: requests refused before they were sent,
/// and — when its events carry ids — requests whose answer was lost; a batch without event ids that was cut off is left
/// alone (its units abandoned), so the check can see that it is all there or not at all.
/// </summary>
internal sealed class Ingest
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    private readonly IReadOnlyList<LedgerService> _nodes;
    private readonly string _lineKeyLathrop;
    private readonly string _lineKeyShanghai;
    private readonly List<List<UnitLife>> _lives;
    private long _eventsPosted;

    public Ingest(IReadOnlyList<LedgerService> nodes, IReadOnlyDictionary<string, string> lineKeys, string tag, int writers, int unitsPerWriter, int seed)
    {
        _nodes = nodes;
        _lineKeyLathrop = lineKeys["lathrop"];
        _lineKeyShanghai = lineKeys["shanghai"];
        _lives = [.. Enumerable.Range(0, writers).Select(w => Workload.Lives(seed, tag, w, unitsPerWriter))];
        Seed = seed;
    }

    public Recorder Recorder { get; } = new();

    public int Seed { get; }

    public IEnumerable<UnitLife> Units => _lives.SelectMany(l => l);

    /// <summary>Events acknowledged so far: tests wait on it to place their faults in the middle of the ingest.</summary>
    public long EventsAcknowledged => Interlocked.Read(ref _eventsPosted);

    /// <summary>
    /// Runs the writers until every unit's life is posted or <paramref name="stop"/> fires; then each finishes (retries)
    /// the batch it holds. <paramref name="abort"/> ends everything at once.
    /// </summary>
    public Task RunAsync(CancellationToken stop, CancellationToken abort) =>
        Task.WhenAll(_lives.Select((lives, w) => Task.Run(() => WriteAsync(w, lives, stop, abort), abort)));

    private async Task WriteAsync(int writer, List<UnitLife> lives, CancellationToken stop, CancellationToken abort)
    {
        var random = new Random(Seed * 31 + writer);
        // One client per factory key per node, made once (a fresh HttpClient per request would exhaust ports).
        var clients = _nodes.Select(n => (Lathrop: n.CreateClient(_lineKeyLathrop, TimeSpan.FromSeconds(60)), Shanghai: n.CreateClient(_lineKeyShanghai, TimeSpan.FromSeconds(60)))).ToArray();
        var node = writer % _nodes.Count;
        try
        {
            while (!stop.IsCancellationRequested)
            {
                // One factory per request: a line key acts for one factory.
                var shanghai = random.Next(2) == 0;
                var open = lives.Where(l => l.HasMore && l.Serial.StartsWith(shanghai ? "SHA" : "LTH", StringComparison.Ordinal)).ToList();
                if (open.Count == 0) open = [.. lives.Where(l => l.HasMore)];
                if (open.Count == 0) return;
                shanghai = open[0].Serial.StartsWith("SHA", StringComparison.Ordinal);
                open = [.. open.Where(l => l.Serial.StartsWith(shanghai ? "SHA" : "LTH", StringComparison.Ordinal))];

                var units = open.OrderBy(_ => random.Next()).Take(random.Next(4) == 0 ? 1 : 1 + random.Next(6)).ToList();
                var events = new List<PlannedEvent>();
                foreach (var unit in units)
                {
                    var take = Math.Min(unit.Events.Count - unit.Next, 1 + random.Next(2));
                    events.AddRange(unit.Events.Skip(unit.Next).Take(take));
                }

                var batch = new SentBatch(Recorder.NextBatchId(), writer, events, withEventIds: random.Next(3) != 0);
                Recorder.Batches.Enqueue(batch);
                var single = units.Count == 1 && random.Next(2) == 0;
                node = await SettleAsync(batch, single, clients, node, shanghai, random, abort);
                foreach (var unit in units)
                {
                    if (batch.Outcome == BatchOutcome.Acknowledged) unit.Next += batch.Events.Count(e => e.Serial == unit.Serial);
                    else unit.Abandoned = true;
                }

                if (batch.Outcome == BatchOutcome.Acknowledged) Interlocked.Add(ref _eventsPosted, batch.Events.Count);
            }
        }
        finally
        {
            foreach (var (lathrop, shanghaiClient) in clients)
            {
                lathrop.Dispose();
                shanghaiClient.Dispose();
            }
        }
    }

    /// <summary>Sends the batch until it settles; returns the node to use next.</summary>
    private async Task<int> SettleAsync(
        SentBatch batch, bool single, (HttpClient Lathrop, HttpClient Shanghai)[] clients, int node, bool shanghai, Random random, CancellationToken abort)
    {
        for (var attempt = 1; ; attempt++)
        {
            var client = shanghai ? clients[node].Shanghai : clients[node].Lathrop;
            using var request = Request(batch, single);
            var sentAt = DateTimeOffset.UtcNow;
            var clock = Stopwatch.StartNew();
            HttpResponseMessage? response = null;
            string? error = null;
            var notSent = false;
            try
            {
                response = await client.SendAsync(request, abort);
            }
            catch (HttpRequestException e)
            {
                error = $"{e.HttpRequestError}: {e.Message}";
                // Refused before anything was sent (node down): safe to send again, anywhere.
                notSent = e.HttpRequestError == HttpRequestError.ConnectionError;
            }
            catch (TaskCanceledException e) when (!abort.IsCancellationRequested)
            {
                error = "timeout: " + e.Message;
            }

            using (response)
            {
                var status = response is null ? 0 : (int)response.StatusCode;
                var body = response is null ? null : await response.Content.ReadAsStringAsync(abort);
                Recorder.Attempts.Enqueue(new Attempt(batch.Id, _nodes[node].NodeId, sentAt, clock.Elapsed, status,
                    response?.Content.Headers.ContentType?.MediaType, response?.Headers.RetryAfter?.ToString(), error));
                var type = ProblemType(body);

                if (status == 201)
                {
                    batch.Outcome = BatchOutcome.Acknowledged;
                    batch.FinalStatus = status;
                    batch.Receipt = ReadReceipt(body!, single, batch);
                    return node;
                }

                if (notSent)
                {
                    node = (node + 1) % _nodes.Count;
                    await Task.Delay(50 + random.Next(100), abort);
                    continue;
                }

                if (status == 429)
                {
                    await Task.Delay(TimeSpan.FromSeconds(Math.Max(1, response!.Headers.RetryAfter?.Delta?.TotalSeconds ?? 1)), abort);
                    continue;
                }

                // 409 version-conflict is stored under the key like any 4xx answer: a new attempt needs a new key.
                if (status == 409 && type?.EndsWith("/version-conflict", StringComparison.Ordinal) == true)
                {
                    batch.IdempotencyKey = Guid.NewGuid().ToString();
                    continue;
                }

                var uncertain = status == 0 || status >= 500 || (status == 409 && type?.EndsWith("/request-in-flight", StringComparison.Ordinal) == true);
                if (uncertain)
                {
                    if (!batch.WithEventIds || abort.IsCancellationRequested)
                    {
                        batch.Outcome = BatchOutcome.Unknown;
                        batch.FinalStatus = status;
                        batch.FinalProblemType = type;
                        return node;
                    }

                    // The events carry their ids, so the store recognises a retry whatever the key. A key left in flight by a
                    // node that died is held for a minute; rather than wait, retry under a new key.
                    if (status == 409) batch.IdempotencyKey = Guid.NewGuid().ToString();
                    if (status == 0 && _nodes.Count > 1) node = (node + 1) % _nodes.Count;
                    await Task.Delay(Math.Min(1000, 50 * attempt) + random.Next(50), abort);
                    continue;
                }

                batch.Outcome = BatchOutcome.Refused;
                batch.FinalStatus = status;
                batch.FinalProblemType = type;
                return node;
            }
        }
    }

    private HttpRequestMessage Request(SentBatch batch, bool single)
    {
        HttpRequestMessage request;
        if (single)
        {
            var array = new JsonArray([.. batch.Events.Select((e, i) => (JsonNode)e.ToJson(batch.EventIds[i], withSerial: false))]);
            request = new HttpRequestMessage(HttpMethod.Post, new Uri($"/api/v1/units/{batch.Events[0].Serial}/events", UriKind.Relative))
            {
                Content = new StringContent(array.ToJsonString(), Encoding.UTF8, "application/json"),
            };
        }
        else
        {
            var body = new JsonObject { ["events"] = new JsonArray([.. batch.Events.Select((e, i) => (JsonNode)e.ToJson(batch.EventIds[i], withSerial: true))]) };
            request = new HttpRequestMessage(HttpMethod.Post, new Uri("/api/v1/events", UriKind.Relative))
            {
                Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json"),
            };
        }

        request.Headers.Add("Idempotency-Key", batch.IdempotencyKey);
        request.Headers.Add("X-Correlation-Id", string.Create(CultureInfo.InvariantCulture, $"reliability-{batch.Id}"));
        return request;
    }

    private static (Guid, long, long)[] ReadReceipt(string body, bool single, SentBatch batch)
    {
        using var document = JsonDocument.Parse(body);
        var units = single ? [document.RootElement] : document.RootElement.GetProperty("units").EnumerateArray().ToArray();
        var receipt = new (Guid, long, long)[batch.Events.Count];
        foreach (var unit in units)
        {
            foreach (var e in unit.GetProperty("events").EnumerateArray())
            {
                receipt[e.GetProperty("index").GetInt32()] = (e.GetProperty("eventId").GetGuid(), e.GetProperty("version").GetInt64(), e.GetProperty("position").GetInt64());
            }
        }

        return receipt;
    }

    internal static string? ProblemType(string? body)
    {
        if (string.IsNullOrEmpty(body) || body[0] != '{') return null;
        try
        {
            using var document = JsonDocument.Parse(body);
            return document.RootElement.TryGetProperty("type", out var type) && type.ValueKind == JsonValueKind.String ? type.GetString() : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>Posts one event object straight away (used by the tests' probes).</summary>
    public static HttpRequestMessage Post(string path, JsonNode body, string? idempotencyKey = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, new Uri(path, UriKind.Relative))
        {
            Content = new StringContent(body.ToJsonString(Json), Encoding.UTF8, new MediaTypeHeaderValue("application/json")),
        };
        if (idempotencyKey is not null) request.Headers.Add("Idempotency-Key", idempotencyKey);
        return request;
    }

    public static bool IsSuccess(HttpStatusCode status) => (int)status is >= 200 and < 300;
}
