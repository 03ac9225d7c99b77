using System.Net;
using System.Text.Json.Nodes;
using Ledger.Api.Access;
using Ledger.Api.Idempotency;
using Ledger.Api.Tests.Support;
using Ledger.EventStore.Hashing;
using Ledger.Testing;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using static Ledger.Api.Tests.WritePath.RecordUnitEventsTests;

namespace Ledger.Api.Tests.WritePath;

/// <summary>Line systems retry on timeouts: the ledger records each fact once, whatever the retry pattern.</summary>
public sealed class IdempotencyTests(DatabaseFixture database) : IClassFixture<DatabaseFixture>, IAsyncLifetime
{
    private readonly LedgerApiFactory _api = new(database.ConnectionString);
    private string _key = null!;
    private HttpClient _lathrop = null!;
    private NpgsqlDataSource _db = null!;
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        _key = await _api.CreateKeyAsync(LedgerRole.Line, "lathrop");
        _lathrop = _api.CreateClient(_key);
        _db = database.CreateDataSource();
    }

    public async ValueTask DisposeAsync()
    {
        _lathrop.Dispose();
        await _api.DisposeAsync();
    }

    [Fact]
    public async Task The_same_request_retried_a_hundred_times_in_a_row_is_recorded_once_with_one_answer()
    {
        var serial = LineEvents.NewSerial();
        var body = new JsonArray(LineEvents.Built(), LineEvents.Tested());
        var key = Guid.NewGuid().ToString();

        var answers = new List<string>();
        for (var i = 0; i < 100; i++)
        {
            using var response = await _lathrop.SendAsync(LineEvents.Post($"/api/v1/units/{serial}/events", body, key), Ct);
            Assert.Equal(HttpStatusCode.Created, response.StatusCode);
            Assert.Equal("\"2\"", response.Headers.ETag?.Tag);
            answers.Add((await response.BodyAsync()).ToString());
        }

        Assert.Single(answers.Distinct());
        Assert.Equal(2, await CountAsync(serial));
    }

    [Fact]
    public async Task The_same_request_retried_a_hundred_times_at_once_is_recorded_once()
    {
        var serial = LineEvents.NewSerial();
        var body = new JsonArray(LineEvents.Built(), LineEvents.Tested());
        var key = Guid.NewGuid().ToString();

        var responses = await Task.WhenAll(Enumerable.Range(0, 100).Select(_ =>
            _lathrop.SendAsync(LineEvents.Post($"/api/v1/units/{serial}/events", body, key), Ct)));

        // Each either got the answer or was told the first is still in flight; none was refused or recorded again.
        Assert.All(responses, r => Assert.Contains(r.StatusCode, new[] { HttpStatusCode.Created, HttpStatusCode.Conflict }));
        Assert.Contains(responses, r => r.StatusCode == HttpStatusCode.Created);
        var created = await Task.WhenAll(responses.Where(r => r.StatusCode == HttpStatusCode.Created).Select(r => r.BodyAsync()));
        Assert.Single(created.Select(b => b.ToString()).Distinct());
        foreach (var r in responses.Where(r => r.StatusCode == HttpStatusCode.Conflict))
        {
            await AssertProblemAsync(r, HttpStatusCode.Conflict, "request-in-flight");
        }

        Assert.Equal(2, await CountAsync(serial));
        foreach (var r in responses) r.Dispose();
    }

    [Fact]
    public async Task The_same_events_with_their_ids_sent_a_hundred_times_at_once_are_recorded_once()
    {
        var serial = LineEvents.NewSerial();
        var body = new JsonArray(LineEvents.Built(id: Guid.CreateVersion7()), LineEvents.Tested(id: Guid.CreateVersion7()));

        var responses = await Task.WhenAll(Enumerable.Range(0, 100).Select(_ =>
            _lathrop.SendAsync(LineEvents.Post($"/api/v1/units/{serial}/events", body), Ct)));

        Assert.All(responses, r => Assert.Equal(HttpStatusCode.Created, r.StatusCode));
        Assert.Single((await Task.WhenAll(responses.Select(r => r.BodyAsync()))).Select(b => b.ToString()).Distinct());
        Assert.Equal(2, await CountAsync(serial));
        foreach (var r in responses) r.Dispose();
    }

    [Fact]
    public async Task A_key_reused_for_a_different_request_is_422()
    {
        var key = Guid.NewGuid().ToString();
        using var first = await _lathrop.SendAsync(LineEvents.Post($"/api/v1/units/{LineEvents.NewSerial()}/events", LineEvents.Built(), key), Ct);
        var other = LineEvents.NewSerial();

        using var reused = await _lathrop.SendAsync(LineEvents.Post($"/api/v1/units/{other}/events", LineEvents.Built(), key), Ct);

        Assert.Equal(HttpStatusCode.Created, first.StatusCode);
        await AssertProblemAsync(reused, HttpStatusCode.UnprocessableEntity, "idempotency-key-reused");
        Assert.Equal(0, await CountAsync(other));
    }

    [Fact]
    public async Task A_retry_while_the_first_request_is_in_flight_is_409_with_retry_after()
    {
        var serial = LineEvents.NewSerial();
        var body = LineEvents.Built();
        var key = Guid.NewGuid().ToString();
        // Another node holds the key: claimed with the same fingerprint this request will have, never completed.
        var caller = await _api.Keys.AuthenticateAsync(_key, Ct) ?? throw new InvalidOperationException("the test key does not authenticate");
        var path = $"/api/v1/units/{serial}/events";
        var fingerprint = IdempotencyKeys.Fingerprint("POST", path, null, CanonicalJson.Canonicalize(body.ToJsonString()));
        var claim = await _api.Services.GetRequiredService<IdempotencyKeys>().ClaimAsync(new DefaultHttpContext(), caller, key, fingerprint, Ct);
        Assert.True(claim.Acquired);

        using var response = await _lathrop.SendAsync(LineEvents.Post(path, body, key), Ct);

        await AssertProblemAsync(response, HttpStatusCode.Conflict, "request-in-flight");
        Assert.Equal("1", response.Headers.RetryAfter?.ToString());
        Assert.Equal(0, await CountAsync(serial));
    }

    [Fact]
    public async Task A_refusal_is_remembered_like_a_success()
    {
        var serial = LineEvents.NewSerial();
        var key = Guid.NewGuid().ToString();

        using var first = await _lathrop.SendAsync(LineEvents.Post($"/api/v1/units/{serial}/events", LineEvents.Tested(), key), Ct);
        using var retry = await _lathrop.SendAsync(LineEvents.Post($"/api/v1/units/{serial}/events", LineEvents.Tested(), key), Ct);

        await AssertProblemAsync(first, HttpStatusCode.NotFound, "unit-not-found");
        Assert.Equal((await first.BodyAsync()).ToString(), (await retry.BodyAsync()).ToString());
    }

    private async Task<long> CountAsync(string serial)
    {
        await using var command = _db.CreateCommand("select count(*) from ledger.events where stream_id = @s");
        command.Parameters.AddWithValue("s", serial);
        return (long)(await command.ExecuteScalarAsync(Ct))!;
    }
}
