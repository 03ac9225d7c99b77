using System.Net;
using System.Text.Json;
using Ledger.Api.Access;
using Ledger.Api.Tests.Support;
using Ledger.Testing;

using static Ledger.Api.Tests.ReadPath.SubscriptionViews;

namespace Ledger.Api.Tests.ReadPath;

/// <summary>
/// The integration subscriptions (<c>integration</c>, <c>integration-milestones</c>) in <c>GET /api/v1/projections</c>,
/// <c>GET /api/v1/projections/health</c> and <c>/health/ready</c>: where each stands, how far behind, who runs it, and
/// whether the daemon paused it, so that a stuck one is seen without reading the logs (lag and owner: SubscriptionLagTests).
/// </summary>
public sealed class SubscriptionStatusTests(DatabaseFixture database) : IClassFixture<DatabaseFixture>
{
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

    private LedgerApiFactory Node(string id, bool runDaemon) => SubscriptionViews.Node(database.ConnectionString, id, runDaemon);
}
