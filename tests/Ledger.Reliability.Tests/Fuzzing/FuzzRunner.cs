using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Ledger.Reliability.Tests.Support;

namespace Ledger.Reliability.Tests.Fuzzing;

/// <summary>Sends fuzz cases to one node with a few concurrent workers and keeps every answer.</summary>
internal sealed class FuzzRunner(LedgerService node, FuzzKeys keys, int seed) : IDisposable
{
    private const int MaxKeptBody = 1024 * 1024;
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    private readonly HttpClient _client = new(new SocketsHttpHandler
    {
        AllowAutoRedirect = false,
        AutomaticDecompression = System.Net.DecompressionMethods.None,
        MaxConnectionsPerServer = 32,
    })
    {
        BaseAddress = node.BaseAddress,
        Timeout = Timeout,
    };

    public ConcurrentQueue<FuzzResult> Results { get; } = new();

    public async Task RunAsync(int count, int workers, CancellationToken cancellationToken)
    {
        var next = -1;
        await Task.WhenAll(Enumerable.Range(0, workers).Select(_ => Task.Run(async () =>
        {
            for (var index = Interlocked.Increment(ref next); index < count; index = Interlocked.Increment(ref next))
            {
                cancellationToken.ThrowIfCancellationRequested();
                Results.Enqueue(await SendAsync(FuzzCases.Create(seed, index, keys)));
            }
        }, cancellationToken)));
    }

    public async Task<FuzzResult> SendAsync(FuzzCase c)
    {
        if (c.Transport == Transport.Raw) return await SendRawAsync(c, c.Raw!);
        // HttpClient refuses to send header values outside ASCII; the socket does not.
        if (c.Headers.Any(h => h.Value.Any(ch => ch > 127))) return await SendRawAsync(c, AsRaw(c));
        HttpRequestMessage request;
        try
        {
            request = new HttpRequestMessage(new HttpMethod(c.Method), new Uri(c.Target, UriKind.Relative));
        }
        catch (Exception e) when (e is UriFormatException or FormatException or ArgumentException)
        {
            // A target HttpClient will not build goes on the wire as it is.
            return await SendRawAsync(c, AsRaw(c));
        }

        using (request)
        {
            if (c.Body is not null)
            {
                HttpContent content = c.Chunked ? new StreamContent(new MemoryStream(c.Body)) : new ByteArrayContent(c.Body);
                content.Headers.ContentType = null;
                if (c.ContentType is not null && !content.Headers.TryAddWithoutValidation("Content-Type", c.ContentType)) return await SendRawAsync(c, AsRaw(c));
                request.Content = content;
                if (c.Chunked) request.Headers.TransferEncodingChunked = true;
            }

            if (c.Key is not null) request.Headers.TryAddWithoutValidation("Authorization", "Bearer " + c.Key);
            foreach (var (name, value) in c.Headers)
            {
                var added = name.StartsWith("Content-", StringComparison.OrdinalIgnoreCase)
                    ? request.Content?.Headers.TryAddWithoutValidation(name, value) ?? false
                    : request.Headers.TryAddWithoutValidation(name, value);
                if (!added) return await SendRawAsync(c, AsRaw(c));
            }

            var clock = Stopwatch.StartNew();
            try
            {
                using var response = await _client.SendAsync(request, HttpCompletionOption.ResponseContentRead);
                var body = await response.Content.ReadAsByteArrayAsync();
                return new FuzzResult(c, (int)response.StatusCode, response.Content.Headers.ContentType?.MediaType,
                    response.Headers.Contains("X-Correlation-Id"), body.Length > MaxKeptBody ? body[..MaxKeptBody] : body, clock.Elapsed, null);
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException or IOException)
            {
                return new FuzzResult(c, 0, null, false, [], clock.Elapsed, $"{e.GetType().Name}: {e.Message}");
            }
        }
    }

    private async Task<FuzzResult> SendRawAsync(FuzzCase c, byte[] raw)
    {
        var bytes = Encoding.Latin1.GetBytes(Encoding.Latin1.GetString(raw).Replace("{HOST}", $"127.0.0.1:{node.Port}", StringComparison.Ordinal));
        var clock = Stopwatch.StartNew();
        try
        {
            var response = await RawHttp.SendAsync(node.Port, bytes, Timeout);
            if (response is null) return new FuzzResult(c, 0, null, false, [], clock.Elapsed, "the connection closed without an answer");
            var mediaType = response.Headers.TryGetValue("content-type", out var type) && MediaTypeHeaderValue.TryParse(type, out var parsed) ? parsed.MediaType : null;
            return new FuzzResult(c, response.Status, mediaType, response.Headers.ContainsKey("x-correlation-id"),
                response.Body.Length > MaxKeptBody ? response.Body[..MaxKeptBody] : response.Body, clock.Elapsed, null);
        }
        catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or OperationCanceledException)
        {
            return new FuzzResult(c, 0, null, false, [], clock.Elapsed, $"{e.GetType().Name}: {e.Message}");
        }
    }

    /// <summary>The case as raw HTTP/1.1 (for what HttpClient refuses to send).</summary>
    private static byte[] AsRaw(FuzzCase c)
    {
        var head = new StringBuilder($"{c.Method} {c.Target} HTTP/1.1\r\nHost: {{HOST}}\r\nConnection: close\r\n");
        if (c.Key is not null) head.Append("Authorization: Bearer ").Append(c.Key).Append("\r\n");
        if (c.ContentType is not null) head.Append("Content-Type: ").Append(c.ContentType).Append("\r\n");
        foreach (var (name, value) in c.Headers) head.Append(name).Append(": ").Append(value).Append("\r\n");
        head.Append("Content-Length: ").Append(c.Body?.Length ?? 0).Append("\r\n\r\n");
        return [.. Encoding.UTF8.GetBytes(head.ToString()), .. c.Body ?? []];
    }

    /// <summary>The event ids a 201 write answer reports.</summary>
    public static IEnumerable<Guid> AcknowledgedEventIds(FuzzResult result)
    {
        if (result.Status != 201 || !result.IsWrite) return [];
        using var document = JsonDocument.Parse(result.Body);
        var units = document.RootElement.TryGetProperty("units", out var many) ? many.EnumerateArray().ToArray() : [document.RootElement];
        return [.. units.SelectMany(u => u.GetProperty("events").EnumerateArray().Select(e => e.GetProperty("eventId").GetGuid()))];
    }

    /// <summary>Why an answer from the application is not a proper problem: null when it is one.</summary>
    public static string? ProblemFault(FuzzResult result)
    {
        if (result.MediaType != "application/problem+json") return $"content type {result.MediaType ?? "none"}";
        if (result.Case.Method == "HEAD") return null;
        try
        {
            using var document = JsonDocument.Parse(result.Body);
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object) return "not a JSON object";
            if (!root.TryGetProperty("type", out var type) || type.ValueKind != JsonValueKind.String
                || !type.GetString()!.StartsWith(Api.ServiceDefaults.ProblemTypes.Base, StringComparison.Ordinal)) return "no ledger problem type";
            if (!root.TryGetProperty("status", out var status) || status.ValueKind != JsonValueKind.Number || status.GetInt32() != result.Status) return "status missing or different";
            if (!root.TryGetProperty("title", out var title) || title.ValueKind != JsonValueKind.String || title.GetString()!.Length == 0) return "no title";
            return null;
        }
        catch (JsonException e)
        {
            return "body is not JSON: " + e.Message;
        }
    }

    public void Dispose() => _client.Dispose();
}
