using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;

namespace Ledger.Reliability.Tests.Support;

/// <summary>
/// Asks one node, every <see cref="Interval"/>, a read (GET /api/v1/units?limit=1) and a write (a new unit's UnitBuilt),
/// ignoring Retry-After, so that the moment the node serves again is seen to within that interval.
/// </summary>
internal sealed class Prober(LedgerService node, string reportingKey, string lathropLineKey, string tag)
{
    public static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(100);

    public LedgerService Node { get; } = node;

    public ConcurrentQueue<Attempt> Attempts { get; } = new();

    /// <summary>The serials of the probe's writes that were acknowledged (the only ones it may claim).</summary>
    public ConcurrentQueue<string> Written { get; } = new();

    public async Task RunAsync(CancellationToken stop)
    {
        using var reader = Node.CreateClient(reportingKey, TimeSpan.FromSeconds(30));
        using var writer = Node.CreateClient(lathropLineKey, TimeSpan.FromSeconds(30));
        var n = 0;
        while (!stop.IsCancellationRequested)
        {
            await OnceAsync(reader, () => new HttpRequestMessage(HttpMethod.Get, new Uri("/api/v1/units?limit=1", UriKind.Relative)), null);
            var serial = string.Create(CultureInfo.InvariantCulture, $"LTH-{tag}-{Node.NodeId.ToUpperInvariant()}-{n++:D5}");
            await OnceAsync(writer, () => Ingest.Post($"/api/v1/units/{serial}/events", new JsonObject
            {
                ["type"] = "UnitBuilt",
                ["occurredAt"] = "2025-06-02T08:00:00Z",
                ["data"] = new JsonObject { ["factoryId"] = "lathrop", ["line"] = "L9", ["model"] = "Megapack 2 XL", ["nameplateKwh"] = 3916 },
            }), serial);
            try
            {
                await Task.Delay(Interval, stop);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>When the node first answered 2xx to a probe sent at or after <paramref name="since"/>, if it has.</summary>
    public DateTimeOffset? FirstSuccessAfter(DateTimeOffset since) =>
        Attempts.Where(a => a.SentAt >= since && a.Status is >= 200 and < 300).Select(a => (DateTimeOffset?)(a.SentAt + a.Duration)).Min();

    private async Task OnceAsync(HttpClient client, Func<HttpRequestMessage> request, string? serial)
    {
        using var message = request();
        var sentAt = DateTimeOffset.UtcNow;
        var clock = Stopwatch.StartNew();
        try
        {
            using var response = await client.SendAsync(message);
            await response.Content.ReadAsByteArrayAsync();
            Attempts.Enqueue(new Attempt(0, Node.NodeId, sentAt, clock.Elapsed, (int)response.StatusCode,
                response.Content.Headers.ContentType?.MediaType, response.Headers.RetryAfter?.ToString(), null));
            if (serial is not null && (int)response.StatusCode == 201) Written.Enqueue(serial);
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            Attempts.Enqueue(new Attempt(0, Node.NodeId, sentAt, clock.Elapsed, 0, null, null, e.Message));
        }
    }
}
