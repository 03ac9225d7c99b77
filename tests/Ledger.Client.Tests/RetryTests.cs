using System.Net;
using Ledger.Api.Access;
using Ledger.Api.Tests.Support;
using Ledger.Client.Tests.Support;
using Ledger.Testing;

namespace Ledger.Client.Tests;

/// <summary>
/// Transient failures are retried with backoff, under the same Idempotency-Key, so that a retried post is stored once;
/// refusals are never retried. The delays are read off a clock whose timers fire at once.
/// </summary>
public sealed class RetryTests(DatabaseFixture database) : IClassFixture<DatabaseFixture>, IAsyncLifetime
{
    private readonly LedgerApiFactory _api = new(database.ConnectionString);
    private readonly RecordingTimeProvider _clock = new();
    private string _lineKey = null!;
    private LedgerClient _auditor = null!;
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        _lineKey = await _api.CreateKeyAsync(LedgerRole.Line, "shanghai");
        _auditor = await _api.ClientAsync(LedgerRole.Auditor);
    }

    public async ValueTask DisposeAsync() => await _api.DisposeAsync();

    private LedgerClient Line(FaultyNetwork network, int maxRetries = 5) => new(_api.CreateDefaultClient(network), new LedgerClientOptions
    {
        ApiKey = _lineKey,
        Retry = new LedgerRetryOptions { MaxRetryAttempts = maxRetries, BaseDelay = TimeSpan.FromMilliseconds(100), MaxDelay = TimeSpan.FromSeconds(10), UseJitter = false },
        TimeProvider = _clock,
    });

    [Fact]
    public async Task A_post_whose_answer_was_lost_is_retried_with_the_same_key_and_stored_once()
    {
        var network = new FaultyNetwork(Faults.AnswerLost);
        var serial = Lines.NewSerial();

        var receipt = await Line(network).RecordAsync(serial, [Lines.Built(), Lines.Tested()], cancellationToken: Ct);

        Assert.Equal(2, network.Sent.Count);
        Assert.Equal(network.Sent[0].IdempotencyKey, network.Sent[1].IdempotencyKey);
        Assert.Equal(2, receipt.Version);
        var history = await _auditor.GetUnitHistoryAsync(serial, Ct);
        Assert.Equal(2, history!.Events.Count);
        Assert.Equal(receipt.Events.Select(e => e.EventId), history.Events.Select(e => e.EventId));
    }

    [Fact]
    public async Task A_batch_whose_answer_was_lost_twice_is_stored_once()
    {
        var network = new FaultyNetwork(Faults.AnswerLost, Faults.AnswerLost);
        var serials = new[] { Lines.NewSerial(), Lines.NewSerial() };

        var receipt = await Line(network).RecordBatchAsync([.. serials.Select(s => Lines.Built().For(s))], cancellationToken: Ct);

        Assert.Equal(3, network.Sent.Count);
        Assert.Single(network.Sent.Select(s => s.IdempotencyKey).Distinct());
        foreach (var unit in receipt.Units) Assert.Single((await _auditor.GetUnitHistoryAsync(unit.Serial, Ct))!.Events);
    }

    [Fact]
    public async Task Connection_errors_are_retried_after_exponentially_growing_delays()
    {
        var network = new FaultyNetwork(Faults.ConnectionRefused, Faults.ConnectionRefused, Faults.ConnectionRefused);

        var receipt = await Line(network).RecordAsync(Lines.NewSerial(), Lines.Built(), cancellationToken: Ct);

        Assert.Equal(1, receipt.Version);
        Assert.Equal(4, network.Sent.Count);
        Assert.Equal([TimeSpan.FromMilliseconds(100), TimeSpan.FromMilliseconds(200), TimeSpan.FromMilliseconds(400)], _clock.Waits);
    }

    [Theory]
    [InlineData(HttpStatusCode.ServiceUnavailable)]
    [InlineData(HttpStatusCode.TooManyRequests)]
    public async Task An_overloaded_or_unavailable_ledger_is_retried_after_the_Retry_After_it_asks_for(HttpStatusCode status)
    {
        // Longer than the client's own longest backoff (10 s): the ledger's word wins.
        var network = new FaultyNetwork(Faults.Answer(status, LedgerProblemTypes.Unavailable, retryAfter: TimeSpan.FromSeconds(20)));

        await Line(network).RecordAsync(Lines.NewSerial(), Lines.Built(), cancellationToken: Ct);

        Assert.Equal(2, network.Sent.Count);
        Assert.Equal([TimeSpan.FromSeconds(20)], _clock.Waits);
    }

    [Theory]
    [InlineData(HttpStatusCode.RequestTimeout)]
    [InlineData(HttpStatusCode.BadGateway)]
    [InlineData(HttpStatusCode.GatewayTimeout)]
    public async Task Timeouts_and_gateway_failures_are_retried_with_backoff(HttpStatusCode status)
    {
        var network = new FaultyNetwork(Faults.HtmlPage(status), Faults.HtmlPage(status));

        await Line(network).RecordAsync(Lines.NewSerial(), Lines.Built(), cancellationToken: Ct);

        Assert.Equal(3, network.Sent.Count);
        Assert.Equal([TimeSpan.FromMilliseconds(100), TimeSpan.FromMilliseconds(200)], _clock.Waits);
    }

    [Fact]
    public async Task An_attempt_that_times_out_is_retried()
    {
        var network = new FaultyNetwork(Faults.NoAnswer);
        var http = _api.CreateDefaultClient(network);
        http.Timeout = TimeSpan.FromSeconds(1);
        var line = new LedgerClient(http, new LedgerClientOptions { ApiKey = _lineKey, Retry = Lines.Quick });
        var serial = Lines.NewSerial();

        var receipt = await line.RecordAsync(serial, Lines.Built(), cancellationToken: Ct);

        // On a busy machine a retry may time out too, after the ledger stored the event, or find the first still in
        // flight and wait its Retry-After (on the real clock here): either way it is stored once.
        Assert.Equal(1, receipt.Version);
        Assert.True(network.Sent.Count >= 2);
        Assert.Single(network.Sent.Select(s => s.IdempotencyKey).Distinct());
        Assert.Single((await _auditor.GetUnitHistoryAsync(serial, Ct))!.Events);
    }

    [Fact]
    public async Task A_request_still_in_flight_under_the_same_key_is_retried_until_its_answer_is_ready()
    {
        var network = new FaultyNetwork(Faults.Answer(HttpStatusCode.Conflict, LedgerProblemTypes.RequestInFlight, retryAfter: TimeSpan.FromSeconds(1)));

        await Line(network).RecordAsync(Lines.NewSerial(), Lines.Built(), cancellationToken: Ct);

        Assert.Equal(2, network.Sent.Count);
        Assert.Equal([TimeSpan.FromSeconds(1)], _clock.Waits);
    }

    [Fact]
    public async Task A_version_conflict_is_the_ledgers_answer_to_that_key_and_is_not_retried()
    {
        var network = new FaultyNetwork(Faults.Answer(HttpStatusCode.Conflict, LedgerProblemTypes.VersionConflict));

        var conflict = await Assert.ThrowsAsync<LedgerProblemException>(() => Line(network).RecordAsync(Lines.NewSerial(), Lines.Built(), cancellationToken: Ct));

        Assert.Equal(LedgerProblemTypes.VersionConflict, conflict.Problem.Type);
        Assert.Single(network.Sent);
    }

    [Fact]
    public async Task A_rule_violation_is_never_retried()
    {
        var network = new FaultyNetwork();
        var serial = Lines.NewSerial();
        var line = Line(network);
        await line.RecordAsync(serial, Lines.Built(), cancellationToken: Ct);

        var refused = await Assert.ThrowsAsync<LedgerProblemException>(() => line.RecordAsync(serial, Lines.Shipped(), cancellationToken: Ct));

        Assert.Equal((LedgerProblemTypes.RuleViolation, "test-not-passed"), (refused.Problem.Type, refused.Problem.Code));
        Assert.Equal(2, network.Sent.Count);
        Assert.Empty(_clock.Waits);
    }

    [Fact]
    public async Task A_validation_failure_is_never_retried()
    {
        var network = new FaultyNetwork();

        var refused = await Assert.ThrowsAsync<LedgerProblemException>(() => Line(network).RecordAsync(Lines.NewSerial(),
            new EventToRecord(new Production.Units.UnitBuilt("shanghai", "MP-L1", "Megapack 2 XL", 0m), Lines.Day), cancellationToken: Ct));

        Assert.Equal(LedgerProblemTypes.ValidationFailed, refused.Problem.Type);
        Assert.Single(network.Sent);
    }

    [Fact]
    public async Task A_Retry_After_longer_than_the_client_waits_reaches_the_caller_at_once()
    {
        var network = new FaultyNetwork(Faults.Answer(HttpStatusCode.ServiceUnavailable, LedgerProblemTypes.Unavailable, retryAfter: TimeSpan.FromMinutes(5)));

        var unavailable = await Assert.ThrowsAsync<LedgerProblemException>(() => Line(network).RecordAsync(Lines.NewSerial(), Lines.Built(), cancellationToken: Ct));

        Assert.Equal(HttpStatusCode.ServiceUnavailable, unavailable.StatusCode);
        Assert.Equal(TimeSpan.FromMinutes(5), unavailable.RetryAfter);
        Assert.Single(network.Sent);
    }

    [Fact]
    public async Task After_the_last_retry_the_failure_reaches_the_caller_and_nothing_was_stored()
    {
        var network = new FaultyNetwork([.. Enumerable.Repeat(Faults.Answer(HttpStatusCode.ServiceUnavailable, LedgerProblemTypes.Unavailable), 10)]);
        var serial = Lines.NewSerial();

        var unavailable = await Assert.ThrowsAsync<LedgerProblemException>(() => Line(network, maxRetries: 3).RecordAsync(serial, Lines.Built(), cancellationToken: Ct));

        Assert.Equal(LedgerProblemTypes.Unavailable, unavailable.Problem.Type);
        Assert.Equal(4, network.Sent.Count);
        Assert.Null(await _auditor.GetUnitAsync(serial, Ct));
    }

    [Fact]
    public async Task Reads_are_retried_like_posts()
    {
        var network = new FaultyNetwork(Faults.ConnectionRefused, Faults.HtmlPage(HttpStatusCode.BadGateway));

        var factories = await Line(network).GetFactoriesAsync(Ct);

        Assert.Contains(factories, f => f.Id == "shanghai");
        Assert.Equal(3, network.Sent.Count);
    }

    [Fact]
    public async Task With_retries_off_the_first_failure_reaches_the_caller()
    {
        var network = new FaultyNetwork(Faults.ConnectionRefused);
        var client = new LedgerClient(_api.CreateDefaultClient(network), new LedgerClientOptions { ApiKey = _lineKey, Retry = LedgerRetryOptions.None });

        await Assert.ThrowsAsync<HttpRequestException>(() => client.GetFactoriesAsync(Ct));

        Assert.Single(network.Sent);
    }

    [Fact]
    public async Task A_cancelled_call_is_not_retried()
    {
        var network = new FaultyNetwork();
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => Line(network).RecordAsync(Lines.NewSerial(), Lines.Built(), cancellationToken: cancelled.Token));

        Assert.Empty(_clock.Waits);
    }
}
