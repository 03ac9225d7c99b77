using System.Net;
using System.Text.Json;
using Ledger.Api.Access;
using Ledger.Api.Tests.Support;
using Ledger.Api.Tests.WritePath;
using Ledger.Testing;

namespace Ledger.Api.Tests.Operations;

/// <summary>
/// /health/live says the process is up; /health/ready says it can work: the database answers, every migration is
/// applied and no projection is stopped on a failure. Both public, both JSON listing each check.
/// </summary>
public sealed class HealthTests(DatabaseFixture database) : IClassFixture<DatabaseFixture>, IAsyncDisposable
{
    private readonly LedgerApiFactory _api = new(database.ConnectionString);
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_running_service_is_live_and_ready_and_says_which_checks_passed()
    {
        using var anonymous = _api.CreateClient();

        var (liveStatus, live) = await GetAsync(anonymous, "/health/live", Ct);
        Assert.Equal(HttpStatusCode.OK, liveStatus);
        Assert.Equal("healthy", live.GetProperty("status").GetString());
        Assert.Equal(0, live.GetProperty("checks").GetArrayLength());

        var (readyStatus, ready) = await GetAsync(anonymous, "/health/ready", Ct);
        Assert.Equal(HttpStatusCode.OK, readyStatus);
        Assert.Equal("healthy", ready.GetProperty("status").GetString());
        Assert.Equal(["database", "migrations", "projections", "subscriptions"], Checks(ready).Keys.Order(StringComparer.Ordinal));
        Assert.All(Checks(ready).Values, c => Assert.Equal("healthy", c.GetProperty("status").GetString()));
        Assert.Equal(["event-store", "ledger-api", "read-models"],
            Checks(ready)["migrations"].GetProperty("data").GetProperty("modules").EnumerateArray().Select(m => m.GetString()!));
    }

    [Fact]
    public async Task A_failed_projection_makes_the_service_not_ready_until_it_is_retried()
    {
        using var anonymous = _api.CreateClient();
        using var line = _api.CreateClient(await _api.CreateKeyAsync(LedgerRole.Line, "lathrop"));
        using var admin = _api.CreateClient(await _api.CreateKeyAsync(LedgerRole.Admin));
        await using var dataSource = database.CreateDataSource();
        Assert.Equal(HttpStatusCode.OK, (await GetAsync(anonymous, "/health/ready", Ct)).Status);

        // A genuine failure of the milestones projection: its table refuses the next build it applies.
        await using (var sabotage = dataSource.CreateCommand("alter table ledger.milestone_builds add constraint health_test_refuses check (false) not valid"))
        {
            await sabotage.ExecuteNonQueryAsync(Ct);
        }

        using (var built = await line.SendAsync(LineEvents.Post($"/api/v1/units/{LineEvents.NewSerial()}/events", LineEvents.Built()), Ct))
        {
            Assert.Equal(HttpStatusCode.Created, built.StatusCode);
        }

        var notReady = await WaitForAsync(anonymous, HttpStatusCode.ServiceUnavailable);
        Assert.Equal("unhealthy", notReady.GetProperty("status").GetString());
        var checks = Checks(notReady);
        Assert.Equal("healthy", checks["database"].GetProperty("status").GetString());
        Assert.Equal("healthy", checks["migrations"].GetProperty("status").GetString());
        Assert.Equal("unhealthy", checks["projections"].GetProperty("status").GetString());
        Assert.Contains("milestones", checks["projections"].GetProperty("description").GetString(), StringComparison.Ordinal);
        Assert.Equal("failed", checks["projections"].GetProperty("data").GetProperty("milestones").GetProperty("state").GetString());
        Assert.Equal("running", checks["projections"].GetProperty("data").GetProperty("deployments").GetProperty("state").GetString());
        Assert.Equal(HttpStatusCode.OK, (await GetAsync(anonymous, "/health/live", Ct)).Status);

        await using (var fix = dataSource.CreateCommand("alter table ledger.milestone_builds drop constraint health_test_refuses"))
        {
            await fix.ExecuteNonQueryAsync(Ct);
        }

        using (var retry = await admin.PostAsync(new Uri("/api/v1/projections/milestones/retry", UriKind.Relative), null, Ct))
        {
            Assert.Equal(HttpStatusCode.Accepted, retry.StatusCode);
        }

        var ready = await WaitForAsync(anonymous, HttpStatusCode.OK);
        Assert.Equal("running", Checks(ready)["projections"].GetProperty("data").GetProperty("milestones").GetProperty("state").GetString());
    }

    [Fact]
    public async Task While_the_database_is_unreachable_the_service_is_live_but_not_ready()
    {
        // A server of its own: crashing the shared one would take every other test class down with it.
        await using var postgres = await PostgresContainer.StartAsync(Ct);
        await using var api = new LedgerApiFactory(postgres.ConnectionString());
        using var anonymous = api.CreateClient();
        Assert.Equal(HttpStatusCode.OK, (await GetAsync(anonymous, "/health/ready", Ct)).Status);

        await postgres.CrashAsync(Ct);
        var (status, down) = await GetAsync(anonymous, "/health/ready", Ct);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, status);
        var checks = Checks(down);
        Assert.Equal("unhealthy", checks["database"].GetProperty("status").GetString());
        Assert.Equal("The database is unreachable.", checks["database"].GetProperty("description").GetString());
        Assert.Equal("unhealthy", checks["migrations"].GetProperty("status").GetString());
        Assert.Equal("unhealthy", checks["projections"].GetProperty("status").GetString());
        Assert.Equal(HttpStatusCode.OK, (await GetAsync(anonymous, "/health/live", Ct)).Status);

        await postgres.RestartAsync(Ct);
        await WaitForAsync(anonymous, HttpStatusCode.OK);
    }

    private static async Task<JsonElement> WaitForAsync(HttpClient client, HttpStatusCode wanted)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        deadline.CancelAfter(TimeSpan.FromSeconds(60));
        while (true)
        {
            var (status, body) = await GetAsync(client, "/health/ready", deadline.Token);
            if (status == wanted) return body;
            await Task.Delay(100, deadline.Token);
        }
    }

    private static async Task<(HttpStatusCode Status, JsonElement Body)> GetAsync(HttpClient client, string path, CancellationToken cancellationToken)
    {
        using var response = await client.GetAsync(new Uri(path, UriKind.Relative), cancellationToken);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains("no-store", response.Headers.CacheControl?.ToString() ?? string.Empty, StringComparison.Ordinal);
        using var document = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Ct));
        return (response.StatusCode, document.RootElement.Clone());
    }

    private static Dictionary<string, JsonElement> Checks(JsonElement report) =>
        report.GetProperty("checks").EnumerateArray().ToDictionary(c => c.GetProperty("name").GetString()!, c => c, StringComparer.Ordinal);

    public async ValueTask DisposeAsync() => await _api.DisposeAsync();
}
