using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Text;

namespace Ledger.Client.Tests.Support;

/// <summary>What one request looked like on the wire.</summary>
internal sealed record SentRequest(HttpMethod Method, string PathAndQuery, string? IdempotencyKey, string? IfMatch, string? Authorization);

/// <summary>
/// The network between the client and the ledger, failing on cue: each scripted fault applies to one attempt, in order;
/// attempts after the script reach the ledger untouched. Records every attempt.
/// </summary>
internal sealed class FaultyNetwork(params Fault[] script) : DelegatingHandler
{
    private readonly ConcurrentQueue<Fault> _script = new(script);
    private readonly ConcurrentQueue<SentRequest> _sent = new();

    public IReadOnlyList<SentRequest> Sent => [.. _sent];

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        _sent.Enqueue(new SentRequest(
            request.Method,
            request.RequestUri!.PathAndQuery,
            request.Headers.TryGetValues("Idempotency-Key", out var keys) ? keys.Single() : null,
            request.Headers.IfMatch.Count > 0 ? request.Headers.IfMatch.ToString() : null,
            request.Headers.Authorization?.ToString()));
        return _script.TryDequeue(out var fault)
            ? await fault(request, r => base.SendAsync(r, cancellationToken), cancellationToken)
            : await base.SendAsync(request, cancellationToken);
    }
}

/// <summary>One attempt's fate: given the request and a way to send it on, what the client sees.</summary>
internal delegate Task<HttpResponseMessage> Fault(
    HttpRequestMessage request, Func<HttpRequestMessage, Task<HttpResponseMessage>> forward, CancellationToken cancellationToken);

internal static class Faults
{
    /// <summary>The ledger processes the request, and the connection drops before the answer arrives.</summary>
    public static Fault AnswerLost => async (request, forward, cancellationToken) =>
    {
        using var answer = await forward(request);
        await answer.Content.LoadIntoBufferAsync(cancellationToken);
        throw new HttpRequestException(HttpRequestError.ResponseEnded, "The connection was reset before the answer arrived (simulated).");
    };

    /// <summary>The connection cannot be made; the ledger never sees the request.</summary>
    public static Fault ConnectionRefused => (_, _, _) =>
        throw new HttpRequestException(HttpRequestError.ConnectionError, "Connection refused (simulated).");

    /// <summary>Something between the client and the ledger (or the ledger) answers with a problem, without the ledger acting.</summary>
    public static Fault Answer(HttpStatusCode status, string type, TimeSpan? retryAfter = null) => (request, _, _) =>
    {
        var body = $$"""{"type":"{{type}}","title":"Simulated","status":{{(int)status}},"detail":"A simulated answer.","correlationId":"simulated"}""";
        var response = new HttpResponseMessage(status)
        {
            RequestMessage = request,
            Content = new StringContent(body, Encoding.UTF8, "application/problem+json"),
        };
        if (retryAfter is { } wait) response.Headers.RetryAfter = new RetryConditionHeaderValue(wait);
        return Task.FromResult(response);
    };

    /// <summary>The ledger does not answer at all: the attempt hangs until the client gives up on it.</summary>
    public static Fault NoAnswer => async (_, _, cancellationToken) =>
    {
        await Task.Delay(Timeout.Infinite, cancellationToken);
        throw new InvalidOperationException("unreachable");
    };

    /// <summary>A proxy in front of the ledger answers with a page of HTML, not a problem.</summary>
    public static Fault HtmlPage(HttpStatusCode status) => (request, _, _) => Task.FromResult(new HttpResponseMessage(status)
    {
        RequestMessage = request,
        Content = new StringContent("<html><body><h1>Bad Gateway</h1></body></html>", Encoding.UTF8, "text/html"),
    });
}

/// <summary>
/// A clock whose timers fire at once, recording how long each was asked to wait: the retry delays a client chose,
/// observed exactly and without waiting for them.
/// </summary>
internal sealed class RecordingTimeProvider : TimeProvider
{
    private readonly ConcurrentQueue<TimeSpan> _waits = new();

    public IReadOnlyList<TimeSpan> Waits => [.. _waits];

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        if (dueTime != Timeout.InfiniteTimeSpan) _waits.Enqueue(dueTime);
        return base.CreateTimer(callback, state, dueTime == Timeout.InfiniteTimeSpan ? dueTime : TimeSpan.Zero, period);
    }
}
