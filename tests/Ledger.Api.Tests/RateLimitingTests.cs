using System.Net;
using Ledger.Api.Access;
using Ledger.Api.Tests.Support;
using Ledger.Testing;
using Microsoft.Extensions.Options;
using static Ledger.Api.Tests.WritePath.RecordUnitEventsTests;

namespace Ledger.Api.Tests;

/// <summary>Requests are limited per API key (Ledger:RateLimiting): 429 problem+json with Retry-After, other keys unaffected.</summary>
public sealed class RateLimitingTests(DatabaseFixture database) : IClassFixture<DatabaseFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static Dictionary<string, string?> Limits(int perSecond, int burst) => new()
    {
        ["Ledger:RateLimiting:PermitsPerSecond"] = perSecond.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["Ledger:RateLimiting:Burst"] = burst.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };

    [Fact]
    public async Task A_key_over_its_limit_gets_429_with_retry_after_while_another_key_goes_on()
    {
        await using var api = new LedgerApiFactory(database.ConnectionString, settings: Limits(perSecond: 1, burst: 3));
        using var busy = api.CreateClient(await api.CreateKeyAsync(LedgerRole.Reporting));
        using var quiet = api.CreateClient(await api.CreateKeyAsync(LedgerRole.Reporting));

        // All at once, so that even on a slow machine they arrive well within the second that refills one permit.
        var responses = await Task.WhenAll(Enumerable.Range(0, 30).Select(_ => busy.GetAsync(new Uri("/api/v1/whoami", UriKind.Relative), Ct)));
        var answers = responses.Select(r => r.StatusCode).ToList();
        var refused = responses.FirstOrDefault(r => r.StatusCode == HttpStatusCode.TooManyRequests);
        foreach (var response in responses.Where(r => r != refused)) response.Dispose();

        Assert.All(answers, a => Assert.True(a is HttpStatusCode.OK or HttpStatusCode.TooManyRequests, a.ToString()));
        Assert.True(answers.Count(a => a == HttpStatusCode.OK) >= 3, "the burst of 3 is served");
        Assert.NotNull(refused);
        using (refused)
        {
            var problem = await AssertProblemAsync(refused, HttpStatusCode.TooManyRequests, "too-many-requests");
            Assert.Contains("rate limit", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
            Assert.True(refused.Headers.RetryAfter?.Delta >= TimeSpan.FromSeconds(1), $"Retry-After: {refused.Headers.RetryAfter}");
        }

        using var other = await quiet.GetAsync(new Uri("/api/v1/whoami", UriKind.Relative), Ct);
        Assert.Equal(HttpStatusCode.OK, other.StatusCode);

        // After the wait it was told, the busy key is served again.
        await Task.Delay(TimeSpan.FromSeconds(1.5), Ct);
        using var again = await busy.GetAsync(new Uri("/api/v1/whoami", UriKind.Relative), Ct);
        Assert.Equal(HttpStatusCode.OK, again.StatusCode);
    }

    [Fact]
    public async Task Requests_without_a_valid_key_are_refused_as_401_not_counted_against_a_key()
    {
        await using var api = new LedgerApiFactory(database.ConnectionString, settings: Limits(perSecond: 1, burst: 1));
        using var anonymous = api.CreateClient();
        for (var i = 0; i < 5; i++)
        {
            using var response = await anonymous.GetAsync(new Uri("/api/v1/whoami", UriKind.Relative), Ct);
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        }

        using var keyed = api.CreateClient(await api.CreateKeyAsync(LedgerRole.Reporting));
        using var first = await keyed.GetAsync(new Uri("/api/v1/whoami", UriKind.Relative), Ct);
        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
    }

    [Fact]
    public async Task Zero_permits_per_second_turns_rate_limiting_off()
    {
        await using var api = new LedgerApiFactory(database.ConnectionString, settings: Limits(perSecond: 0, burst: 0));
        using var client = api.CreateClient(await api.CreateKeyAsync(LedgerRole.Reporting));
        for (var i = 0; i < 30; i++)
        {
            using var response = await client.GetAsync(new Uri("/api/v1/whoami", UriKind.Relative), Ct);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
    }

    [Fact]
    public async Task A_burst_smaller_than_the_rate_stops_the_start()
    {
        await using var api = new LedgerApiFactory(database.ConnectionString, settings: Limits(perSecond: 10, burst: 5));

        var failure = Assert.ThrowsAny<Exception>(() => api.CreateClient());
        Assert.Contains(Causes(failure), e => e is OptionsValidationException);
    }

    private static IEnumerable<Exception> Causes(Exception? e)
    {
        for (; e is not null; e = e.InnerException)
        {
            yield return e;
            if (e is AggregateException many) foreach (var inner in many.InnerExceptions.SelectMany(Causes)) yield return inner;
        }
    }
}
