using System.Net;
using Ledger.Api.Access;
using Ledger.Api.Tests.Support;
using Ledger.Testing;
using static Ledger.Api.Tests.WritePath.RecordUnitEventsTests;

namespace Ledger.Api.Tests.WritePath;

/// <summary>PostgreSQL stopped abruptly under the service: clients are told to retry, and nothing is lost or doubled.</summary>
public sealed class DatabaseOutageTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task While_the_database_is_down_writes_get_503_with_retry_after_and_a_retry_afterwards_records_once()
    {
        // A server of its own: crashing the shared one would take every other test class down with it.
        await using var postgres = await PostgresContainer.StartAsync(Ct);
        await using var api = new LedgerApiFactory(postgres.ConnectionString());
        using var line = api.CreateClient(await api.CreateKeyAsync(LedgerRole.Line, "lathrop"));
        var serial = LineEvents.NewSerial();
        var key = Guid.NewGuid().ToString();
        var path = $"/api/v1/units/{serial}/events";

        await postgres.CrashAsync(Ct);
        using var during = await line.SendAsync(LineEvents.Post(path, LineEvents.Built(id: Guid.Parse("0193a5e4-7c1f-7cc3-9a36-5d3d2b1f8e10")), key), Ct);
        var problem = await AssertProblemAsync(during, HttpStatusCode.ServiceUnavailable, "service-unavailable");
        Assert.Equal("5", during.Headers.RetryAfter?.ToString());
        Assert.Contains("Retry", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);

        await postgres.RestartAsync(Ct);
        var answer = HttpStatusCode.ServiceUnavailable;
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        deadline.CancelAfter(TimeSpan.FromSeconds(60));
        while (answer != HttpStatusCode.Created)
        {
            // The key of the failed attempt may still be leased (its release failed with the database): 409 says wait.
            using var retry = await line.SendAsync(LineEvents.Post(path, LineEvents.Built(id: Guid.Parse("0193a5e4-7c1f-7cc3-9a36-5d3d2b1f8e10")), key), deadline.Token);
            answer = retry.StatusCode;
            Assert.Contains(answer, new[] { HttpStatusCode.Created, HttpStatusCode.ServiceUnavailable, HttpStatusCode.Conflict });
            if (answer != HttpStatusCode.Created) await Task.Delay(200, deadline.Token);
        }

        using var again = await line.SendAsync(LineEvents.Post(path, LineEvents.Built(id: Guid.Parse("0193a5e4-7c1f-7cc3-9a36-5d3d2b1f8e10")), key), Ct);
        Assert.Equal(HttpStatusCode.Created, again.StatusCode);
        Assert.Equal(1, (await again.BodyAsync()).GetProperty("version").GetInt64());
    }
}
