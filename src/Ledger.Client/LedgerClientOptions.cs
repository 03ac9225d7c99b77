namespace Ledger.Client;

/// <summary>Where the ledger is, which key to use, and how to retry.</summary>
public sealed class LedgerClientOptions
{
    /// <summary>
    /// The ledger's address, such as <c>http://127.0.0.1:5080</c>. When null, the <see cref="HttpClient.BaseAddress"/> of
    /// the client passed to <see cref="LedgerClient"/> is used (as with a test server's client); one of the two is required.
    /// </summary>
    public Uri? BaseAddress { get; set; }

    /// <summary>
    /// The API key sent as <c>Authorization: Bearer</c> on every request. When null, the request carries whatever the
    /// <see cref="HttpClient"/> sends by default.
    /// </summary>
    public string? ApiKey { get; set; }

    /// <summary>How transient failures are retried. <see cref="LedgerRetryOptions.None"/> turns retries off.</summary>
    public LedgerRetryOptions Retry { get; set; } = new();

    /// <summary>The clock the retry delays are measured on.</summary>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;
}

/// <summary>
/// Retries with exponential backoff and jitter, on transient failures only: connection errors and timeouts, and the
/// answers 408, 429, 502, 503 and 504, and 409 <c>request-in-flight</c>. A 429 or 503 that says <c>Retry-After</c> is
/// retried after that long (not sooner), or not at all when that is longer than <see cref="MaxRetryAfter"/>. Other 4xx
/// answers are the ledger refusing the request, and sending it again would be refused again: they are never retried.
/// </summary>
public sealed class LedgerRetryOptions
{
    /// <summary>No retries: every failure reaches the caller at once.</summary>
    public static LedgerRetryOptions None => new() { MaxRetryAttempts = 0 };

    /// <summary>Retries after the first attempt; 0 turns retrying off. Default 5.</summary>
    public int MaxRetryAttempts { get; set; } = 5;

    /// <summary>The first backoff delay; each further one doubles it (before jitter). Default 200 ms.</summary>
    public TimeSpan BaseDelay { get; set; } = TimeSpan.FromMilliseconds(200);

    /// <summary>No backoff delay exceeds this. Default 10 s.</summary>
    public TimeSpan MaxDelay { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Randomize the delays so that many clients failing together do not retry together. Default on.</summary>
    public bool UseJitter { get; set; } = true;

    /// <summary>
    /// The longest <c>Retry-After</c> the client waits for; a server asking for more gets its answer passed to the caller
    /// (as a <see cref="LedgerProblemException"/> with <see cref="LedgerProblemException.RetryAfter"/>). Default 30 s.
    /// </summary>
    public TimeSpan MaxRetryAfter { get; set; } = TimeSpan.FromSeconds(30);
}
