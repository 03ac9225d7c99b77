using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Polly;
using Polly.Retry;

namespace Ledger.Client;

/// <summary>
/// Sends requests with the key, retries transient failures (see <see cref="LedgerRetryOptions"/>) and turns error answers
/// into <see cref="LedgerProblemException"/>. Each attempt is a fresh <see cref="HttpRequestMessage"/> (one cannot be sent
/// twice) configured by the same callback, which must make the same request every time — the same body and
/// Idempotency-Key above all: that is what makes a retried post safe.
/// </summary>
internal sealed class Transport
{
    public const string PositionHeader = "X-Ledger-Position";
    public const string LagHeader = "X-Ledger-Lag-Events";
    public const string BehindHeader = "X-Ledger-Behind";
    public const string CorrelationHeader = "X-Correlation-Id";

    private readonly HttpClient _http;
    private readonly Uri _base;
    private readonly AuthenticationHeaderValue? _authorization;
    private readonly ResiliencePipeline<HttpResponseMessage> _pipeline;
    private readonly TimeProvider _time;

    public Transport(HttpClient http, LedgerClientOptions options)
    {
        _http = http;
        var address = options.BaseAddress ?? http.BaseAddress
            ?? throw new ArgumentException("Give the ledger's address as LedgerClientOptions.BaseAddress or HttpClient.BaseAddress.", nameof(options));
        // Relative paths resolve under the base's path only when it ends with a slash (http://host/ledger/ + api/v1/...).
        _base = address.AbsoluteUri.EndsWith('/') ? address : new Uri(address.AbsoluteUri + "/");
        _authorization = options.ApiKey is { } key ? new AuthenticationHeaderValue("Bearer", key) : null;
        _time = options.TimeProvider ?? TimeProvider.System;
        _pipeline = BuildPipeline(options.Retry ?? new LedgerRetryOptions());
    }

    public static JsonSerializerOptions Json { get; } = new(JsonSerializerDefaults.Web);

    /// <summary>Sends the request (retrying as configured) and returns a successful answer, or throws its problem.</summary>
    public async Task<HttpResponseMessage> SendAsync(
        HttpMethod method, string path, Action<HttpRequestMessage>? configure, CancellationToken cancellationToken)
    {
        var uri = new Uri(_base, path);
        var response = await _pipeline.ExecuteAsync(
            async token =>
            {
                using var request = new HttpRequestMessage(method, uri);
                if (_authorization is not null) request.Headers.Authorization = _authorization;
                configure?.Invoke(request);
                return await _http.SendAsync(request, token);
            },
            cancellationToken);
        if (response.IsSuccessStatusCode) return response;

        using (response)
        {
            throw await ProblemAsync(response, cancellationToken);
        }
    }

    /// <summary>Sends a GET and reads the JSON answer; null when the ledger answers 404 with <paramref name="notFoundType"/>.</summary>
    public async Task<(T? Value, HttpResponseHeaders? Headers)> GetAsync<T>(string path, string? notFoundType, CancellationToken cancellationToken)
        where T : class
    {
        HttpResponseMessage response;
        try
        {
            response = await SendAsync(HttpMethod.Get, path, null, cancellationToken);
        }
        catch (LedgerProblemException e) when (notFoundType is not null && e.Problem.Status == 404 && e.Problem.Type == notFoundType)
        {
            return (null, null);
        }

        using (response)
        {
            return (await ReadAsync<T>(response, cancellationToken), response.Headers);
        }
    }

    public static async Task<T> ReadAsync<T>(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        await using var stream = await response.Content.ReadAsStreamAsync(cancellationToken);
        return await JsonSerializer.DeserializeAsync<T>(stream, Json, cancellationToken)
            ?? throw new JsonException($"The ledger answered {(int)response.StatusCode} with an empty JSON body.");
    }

    public static ReadFreshness Freshness(HttpResponseHeaders? headers) => new(
        Header(headers, PositionHeader) ?? 0,
        Header(headers, LagHeader) ?? 0,
        headers?.TryGetValues(BehindHeader, out var behind) == true && behind.Contains("true", StringComparer.OrdinalIgnoreCase));

    private static long? Header(HttpResponseHeaders? headers, string name) =>
        headers?.TryGetValues(name, out var values) == true
        && long.TryParse(values.FirstOrDefault(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var value)
            ? value
            : null;

    private async Task<LedgerProblemException> ProblemAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        var body = await response.Content.ReadAsStringAsync(cancellationToken);
        var problem = LedgerProblem.Read(response.StatusCode, response.ReasonPhrase, response.Content.Headers.ContentType?.MediaType, body);
        return new LedgerProblemException(problem, RetryAfter(response));
    }

    private ResiliencePipeline<HttpResponseMessage> BuildPipeline(LedgerRetryOptions retry)
    {
        if (retry.MaxRetryAttempts <= 0) return ResiliencePipeline<HttpResponseMessage>.Empty;

        return new ResiliencePipelineBuilder<HttpResponseMessage> { TimeProvider = _time }
            .AddRetry(new RetryStrategyOptions<HttpResponseMessage>
            {
                MaxRetryAttempts = retry.MaxRetryAttempts,
                BackoffType = DelayBackoffType.Exponential,
                Delay = retry.BaseDelay,
                MaxDelay = retry.MaxDelay,
                UseJitter = retry.UseJitter,
                ShouldHandle = args => IsTransientAsync(args.Outcome, retry, args.Context.CancellationToken),
                // The server's Retry-After, when it gave one, is how long to wait; otherwise the backoff decides.
                DelayGenerator = args => ValueTask.FromResult(args.Outcome.Result is { } response ? RetryAfter(response) : null),
            })
            .Build();
    }

    /// <summary>
    /// Whether an attempt's outcome is worth another attempt: the failure is in the transport or the server's momentary
    /// state, not in the request. Every other 4xx is the ledger refusing this request, and would refuse it again.
    /// </summary>
    private async ValueTask<bool> IsTransientAsync(Outcome<HttpResponseMessage> outcome, LedgerRetryOptions retry, CancellationToken cancellationToken)
    {
        if (outcome.Exception is { } exception)
        {
            // A timeout surfaces as a cancellation the caller did not ask for; the caller's own cancellation is final.
            return exception is HttpRequestException
                || (exception is OperationCanceledException && !cancellationToken.IsCancellationRequested);
        }

        var response = outcome.Result!;
        switch (response.StatusCode)
        {
            case HttpStatusCode.RequestTimeout or HttpStatusCode.BadGateway or HttpStatusCode.GatewayTimeout:
                return true;
            case HttpStatusCode.TooManyRequests or HttpStatusCode.ServiceUnavailable:
                return RetryAfter(response) is not { } wait || wait <= retry.MaxRetryAfter;
            case HttpStatusCode.Conflict:
                // Only "still being processed": the first attempt holds the Idempotency-Key, and its answer is coming.
                // A version conflict is the ledger's answer to this key, kept for it; sending it again repeats it.
                var body = await response.Content.ReadAsStringAsync(cancellationToken);
                var problem = LedgerProblem.Read(response.StatusCode, response.ReasonPhrase, response.Content.Headers.ContentType?.MediaType, body);
                return problem.Type == LedgerProblemTypes.RequestInFlight
                    && (RetryAfter(response) is not { } inFlightWait || inFlightWait <= retry.MaxRetryAfter);
            default:
                return false;
        }
    }

    private TimeSpan? RetryAfter(HttpResponseMessage response) => response.Headers.RetryAfter switch
    {
        { Delta: { } delta } => delta < TimeSpan.Zero ? TimeSpan.Zero : delta,
        { Date: { } date } => date - _time.GetUtcNow() is var wait && wait > TimeSpan.Zero ? wait : TimeSpan.Zero,
        _ => null,
    };
}
