using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Ledger.Api.Access;
using Ledger.Api.Tests.Support;
using Ledger.Api.Tests.WritePath;
using Ledger.Testing;

namespace Ledger.Api.Tests.ReadPath;

/// <summary>
/// The integration subscriptions (<c>integration</c>, <c>integration-milestones</c>) in <c>GET /api/v1/projections</c>,
/// <c>GET /api/v1/projections/health</c> and <c>/health/ready</c>: where each stands, how far behind, who runs it, and
/// whether the daemon paused it, so that a stuck one is seen without reading the logs (lag and owner: SubscriptionLagTests).
/// </summary>
public sealed class SubscriptionStatusTests(DatabaseFixture database) : IClassFixture<DatabaseFixture>
{
    private static readonly string[] Subscriptions = ["integration", "integration-milestones"];
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_subscription_failing_on_an_event_shows_paused_with_the_failure_until_it_gets_past_it()
    {
        await using var node = Node("subs-node", runDaemon: true);
        using var line = node.CreateClient(await node.CreateKeyAsync(LedgerRole.Line, "lathrop"));
        using var auditor = node.CreateClient(await node.CreateKeyAsync(LedgerRole.Auditor));
        using var anonymous = node.CreateClient();
        await using var dataSource = database.CreateDataSource();
        await BuildAsync(line);
        await WaitForAsync(auditor, list => Subscriptions.All(n => Find(list, n).GetProperty("lagEvents").GetInt64() == 0));
        Assert.Equal("healthy", (await WaitForReadyAsync(anonymous, "healthy")).Body.GetProperty("status").GetString());

        // A genuine failure of the milestones subscription: the table it reads its counted builds from is gone.
        await ExecuteAsync(dataSource, "alter table ledger.integration_milestone_builds rename to integration_milestone_builds_away");
        var failedAt = await BuildAsync(line);

        var paused = await WaitForAsync(auditor, list => Find(list, "integration-milestones").GetProperty("state").GetString() == "paused");
        var view = Find(paused, "integration-milestones");
        Assert.True(view.GetProperty("lagEvents").GetInt64() >= 1, view.ToString());
        Assert.True(view.GetProperty("position").GetInt64() < failedAt, view.ToString());
        Assert.Equal("subs-node", view.GetProperty("ownerNode").GetString());
        var failure = view.GetProperty("failure");
        Assert.Contains("integration_milestone_builds", failure.GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.DoesNotContain("\n", failure.GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.Equal(JsonValueKind.String, failure.GetProperty("failedAt").ValueKind);

        // The other subscription is not held up by it.
        await WaitForAsync(auditor, list => Find(list, "integration").GetProperty("lagEvents").GetInt64() == 0);

        var degraded = await WaitForReadyAsync(anonymous, "degraded");
        Assert.Equal(HttpStatusCode.OK, degraded.Status);
        Assert.Contains("integration-milestones paused", degraded.Checks["subscriptions"].GetProperty("description").GetString(), StringComparison.Ordinal);
        Assert.Equal("healthy", degraded.Checks["projections"].GetProperty("status").GetString());

        // Fixed: the daemon starts it again by itself (no retry of ours) and it gets past the event.
        await ExecuteAsync(dataSource, "alter table ledger.integration_milestone_builds_away rename to integration_milestone_builds");
        var recovered = await WaitForAsync(auditor, list =>
            Find(list, "integration-milestones") is var v && v.GetProperty("lagEvents").GetInt64() == 0 && v.GetProperty("state").GetString() == "running");
        Assert.True(Find(recovered, "integration-milestones").GetProperty("position").GetInt64() >= failedAt);
        Assert.Equal(JsonValueKind.Null, Find(recovered, "integration-milestones").GetProperty("failure").ValueKind);
        await WaitForReadyAsync(anonymous, "healthy");
    }

    private LedgerApiFactory Node(string id, bool runDaemon) => new(database.ConnectionString, settings: new Dictionary<string, string?>
    {
        ["Ledger:NodeId"] = id,
        ["Ledger:Projections:RunDaemon"] = runDaemon ? "true" : "false",
        ["Ledger:Integration:LagDegradedSeconds"] = "0.2",
    });

    private static async Task<long> BuildAsync(HttpClient line)
    {
        using var built = await line.SendAsync(LineEvents.Post($"/api/v1/units/{LineEvents.NewSerial()}/events", new JsonArray(LineEvents.Built())), Ct);
        Assert.Equal(HttpStatusCode.Created, built.StatusCode);
        return (await built.BodyAsync()).GetProperty("position").GetInt64();
    }

    private static JsonElement Find(JsonElement list, string name) =>
        list.EnumerateArray().Single(v => v.GetProperty("name").GetString() == name);

    private static async Task<JsonElement> WaitForAsync(HttpClient auditor, Func<JsonElement, bool> condition)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        deadline.CancelAfter(TimeSpan.FromSeconds(60));
        JsonElement list = default;
        try
        {
            while (true)
            {
                list = await GetAsync(auditor, "/api/v1/projections?include=subscriptions", deadline.Token);
                if (condition(list)) return list;
                await Task.Delay(100, deadline.Token);
            }
        }
        catch (OperationCanceledException) when (!Ct.IsCancellationRequested)
        {
            Assert.Fail($"Not reached within 60 s; last seen: {list}");
            throw;
        }
    }

    private static async Task<(HttpStatusCode Status, JsonElement Body, Dictionary<string, JsonElement> Checks)> WaitForReadyAsync(HttpClient client, string status)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        deadline.CancelAfter(TimeSpan.FromSeconds(60));
        while (true)
        {
            using var response = await client.GetAsync(new Uri("/health/ready", UriKind.Relative), deadline.Token);
            using var document = JsonDocument.Parse(await response.Content.ReadAsStringAsync(deadline.Token));
            var body = document.RootElement.Clone();
            if (body.GetProperty("status").GetString() == status)
            {
                return (response.StatusCode, body,
                    body.GetProperty("checks").EnumerateArray().ToDictionary(c => c.GetProperty("name").GetString()!, c => c, StringComparer.Ordinal));
            }

            await Task.Delay(100, deadline.Token);
        }
    }

    private static async Task<JsonElement> GetAsync(HttpClient client, string path, CancellationToken cancellationToken)
    {
        using var response = await client.GetAsync(new Uri(path, UriKind.Relative), cancellationToken);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return await response.BodyAsync();
    }

    private static async Task ExecuteAsync(Npgsql.NpgsqlDataSource dataSource, string sql)
    {
        await using var command = dataSource.CreateCommand(sql);
        await command.ExecuteNonQueryAsync(Ct);
    }
}
