using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Ledger.Api.Tests.Support;
using Ledger.Api.Tests.WritePath;

namespace Ledger.Api.Tests.ReadPath;

/// <summary>What SubscriptionLagTests and SubscriptionStatusTests do to the service: post a build, read the
/// subscriptions' views (<c>GET /api/v1/projections?include=subscriptions</c>) and readiness until a condition holds.</summary>
internal static class SubscriptionViews
{
    public static readonly string[] Subscriptions = ["integration", "integration-milestones"];
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>A service node on <paramref name="connectionString"/>; its integration lag counts after 0.2 s.</summary>
    public static LedgerApiFactory Node(string connectionString, string id, bool runDaemon) => new(connectionString, settings: new Dictionary<string, string?>
    {
        ["Ledger:NodeId"] = id,
        ["Ledger:Projections:RunDaemon"] = runDaemon ? "true" : "false",
        ["Ledger:Integration:LagDegradedSeconds"] = "0.2",
    });

    public static async Task<long> BuildAsync(HttpClient line)
    {
        using var built = await line.SendAsync(LineEvents.Post($"/api/v1/units/{LineEvents.NewSerial()}/events", new JsonArray(LineEvents.Built())), Ct);
        Assert.Equal(HttpStatusCode.Created, built.StatusCode);
        return (await built.BodyAsync()).GetProperty("position").GetInt64();
    }

    public static JsonElement Find(JsonElement list, string name) =>
        list.EnumerateArray().Single(v => v.GetProperty("name").GetString() == name);

    public static async Task<JsonElement> WaitForAsync(HttpClient auditor, Func<JsonElement, bool> condition)
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

    public static async Task<(HttpStatusCode Status, JsonElement Body, Dictionary<string, JsonElement> Checks)> WaitForReadyAsync(HttpClient client, string status)
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

    public static async Task<JsonElement> GetAsync(HttpClient client, string path, CancellationToken cancellationToken)
    {
        using var response = await client.GetAsync(new Uri(path, UriKind.Relative), cancellationToken);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return await response.BodyAsync();
    }

    public static async Task ExecuteAsync(Npgsql.NpgsqlDataSource dataSource, string sql)
    {
        await using var command = dataSource.CreateCommand(sql);
        await command.ExecuteNonQueryAsync(Ct);
    }
}
