using System.Net;
using System.Text.Json;
using Ledger.Api.Access;
using Ledger.Api.Tests.Support;
using Ledger.Testing;

using static Ledger.Api.Tests.ReadPath.SubscriptionViews;

namespace Ledger.Api.Tests.ReadPath;

/// <summary>
/// The integration subscriptions' lag and owner in <c>GET /api/v1/projections</c>, <c>GET /api/v1/projections/health</c>
/// and <c>/health/ready</c>, on a database of its own: stopped and behind while no daemon runs them, caught up by the node
/// that takes them, stopped again when it leaves.
/// </summary>
public sealed class SubscriptionLagTests(DatabaseFixture database) : IClassFixture<DatabaseFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_subscription_no_daemon_runs_shows_its_lag_and_the_service_degraded_until_a_daemon_catches_it_up()
    {
        // A node that only serves requests: nothing runs the subscriptions while it is alone.
        await using var quiet = Node("subs-quiet", runDaemon: false);
        using var line = quiet.CreateClient(await quiet.CreateKeyAsync(LedgerRole.Line, "lathrop"));
        using var auditor = quiet.CreateClient(await quiet.CreateKeyAsync(LedgerRole.Auditor));
        using var reporting = quiet.CreateClient(await quiet.CreateKeyAsync(LedgerRole.Reporting));
        using var anonymous = quiet.CreateClient();
        long position = 0;
        for (var i = 0; i < 3; i++) position = await BuildAsync(line);

        // Behind by at least the three builds, and by an age that grows while nothing runs them.
        var behind = await WaitForAsync(auditor, list => Subscriptions.All(n => Find(list, n).GetProperty("lagSeconds").GetDouble() > 0));
        foreach (var name in Subscriptions)
        {
            var view = Find(behind, name);
            Assert.Equal("subscription", view.GetProperty("kind").GetString());
            Assert.Equal("stopped", view.GetProperty("state").GetString());
            Assert.True(view.GetProperty("lagEvents").GetInt64() >= 3, view.ToString());
            Assert.True(view.GetProperty("position").GetInt64() < position, view.ToString());
            Assert.Equal(JsonValueKind.Null, view.GetProperty("ownerNode").ValueKind);
            Assert.Equal(JsonValueKind.Null, view.GetProperty("failure").ValueKind);
        }

        // The read models (only unit-status until a daemon first runs the others) come first; the subscriptions follow,
        // and only when asked for: the list clients read before is unchanged.
        Assert.Equal(["unit-status", .. Subscriptions], behind.EnumerateArray().Select(v => v.GetProperty("name").GetString()));
        Assert.Equal("read-model", behind[0].GetProperty("kind").GetString());
        Assert.Equal(["unit-status"], (await GetAsync(auditor, "/api/v1/projections", Ct)).EnumerateArray().Select(v => v.GetProperty("name").GetString()));
        using (var unknown = await auditor.GetAsync(new Uri("/api/v1/projections?include=everything", UriKind.Relative), Ct))
        {
            Assert.Equal(HttpStatusCode.BadRequest, unknown.StatusCode);
        }

        var health = await GetAsync(reporting, "/api/v1/projections/health", Ct);
        Assert.Equal(Subscriptions, health.GetProperty("subscriptions").EnumerateArray().Select(s => s.GetProperty("name").GetString()));
        Assert.All(health.GetProperty("subscriptions").EnumerateArray(), s =>
        {
            Assert.True(s.GetProperty("lagEvents").GetInt64() >= 3, s.ToString());
            Assert.Equal(["lagEvents", "lagSeconds", "name", "position", "state"], s.EnumerateObject().Select(f => f.Name).Order());
        });

        // Not run and behind: degraded, which is still ready.
        var degraded = await WaitForReadyAsync(anonymous, "degraded");
        Assert.Equal(HttpStatusCode.OK, degraded.Status);
        Assert.Equal("degraded", degraded.Checks["subscriptions"].GetProperty("status").GetString());
        Assert.Contains("integration-milestones stopped", degraded.Checks["subscriptions"].GetProperty("description").GetString(), StringComparison.Ordinal);
        Assert.Contains("s behind", degraded.Checks["subscriptions"].GetProperty("description").GetString(), StringComparison.Ordinal);
        Assert.Equal("healthy", degraded.Checks["projections"].GetProperty("status").GetString());

        // A node with a daemon takes them and catches them up.
        await using var owner = Node("subs-owner", runDaemon: true);
        using var ownerAuditor = owner.CreateClient(await owner.CreateKeyAsync(LedgerRole.Auditor));
        // (The daemon's node also lists the read models it runs from its start.)
        var caughtUp = await WaitForAsync(auditor, list =>
            list.GetArrayLength() == 6 && Subscriptions.All(n => Find(list, n).GetProperty("lagEvents").GetInt64() == 0));
        Assert.Equal(["unit-status", "deployments", "factory-throughput", "milestones", .. Subscriptions],
            caughtUp.EnumerateArray().Select(v => v.GetProperty("name").GetString()));
        Assert.All(caughtUp.EnumerateArray().Take(4), v => Assert.Equal("read-model", v.GetProperty("kind").GetString()));
        foreach (var name in Subscriptions)
        {
            var view = Find(caughtUp, name);
            Assert.Equal("running", view.GetProperty("state").GetString());
            Assert.True(view.GetProperty("position").GetInt64() >= position, view.ToString());
            Assert.Equal(0, view.GetProperty("lagSeconds").GetDouble());
            Assert.Equal("subs-owner", view.GetProperty("ownerNode").GetString());
        }

        var ready = await WaitForReadyAsync(anonymous, "healthy");
        Assert.Equal(HttpStatusCode.OK, ready.Status);
        Assert.Equal(0, ready.Checks["subscriptions"].GetProperty("data").GetProperty("integration").GetProperty("lagEvents").GetInt64());

        // The owner shuts down: no node holds them any more. Nothing waits for them, so the service is not degraded ...
        await owner.DisposeAsync();
        var left = await WaitForAsync(auditor, list => Subscriptions.All(n => Find(list, n).GetProperty("state").GetString() == "stopped"));
        Assert.All(Subscriptions, n => Assert.Equal(JsonValueKind.Null, Find(left, n).GetProperty("ownerNode").ValueKind));
        Assert.Equal("healthy", (await WaitForReadyAsync(anonymous, "healthy")).Checks["subscriptions"].GetProperty("status").GetString());

        // ... until an event waits for them longer than the threshold.
        await BuildAsync(line);
        Assert.Contains("integration stopped", (await WaitForReadyAsync(anonymous, "degraded")).Checks["subscriptions"].GetProperty("description").GetString(),
            StringComparison.Ordinal);
    }

    private LedgerApiFactory Node(string id, bool runDaemon) => SubscriptionViews.Node(database.ConnectionString, id, runDaemon);
}
