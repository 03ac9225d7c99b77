using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Ledger.Reliability.Tests.Support;

namespace Ledger.Reliability.Tests;

/// <summary>
/// A hundred line systems racing to record a test of one unit, each with If-Match of the version it read: exactly one
/// wins each version, the losers are told 412 (or 409) and try again, and in the end every writer's event is in the
/// stream once, at contiguous versions.
/// </summary>
public sealed class ConcurrentWritersTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_hundred_writers_on_one_stream_with_if_match_get_contiguous_versions_and_lose_nothing()
    {
        var summary = new RunSummary("concurrent-writers");
        await using var cluster = await ReliabilityCluster.StartAsync(Ct);
        await using var node = await LedgerService.StartAsync(cluster, "node-a", LedgerService.NewAdminKey(), summary.Test, cancellationToken: Ct);
        var keys = await Keys.LineKeysAsync(cluster.Superuser);
        using var line = node.CreateClient(keys["lathrop"], TimeSpan.FromSeconds(60));
        using var reporting = node.CreateClient(await Keys.CreateAsync(cluster.Superuser, Api.Access.LedgerRole.Reporting), TimeSpan.FromSeconds(60));
        const string serial = "LTH-RACE-000001";
        const string path = $"/api/v1/units/{serial}/events";

        using (var built = await line.SendAsync(Ingest.Post(path, new JsonObject
        {
            ["type"] = "UnitBuilt",
            ["occurredAt"] = "2025-06-02T08:00:00Z",
            ["data"] = new JsonObject { ["factoryId"] = "lathrop", ["line"] = "L1", ["model"] = "Megapack 2 XL", ["nameplateKwh"] = 3916 },
        }), Ct))
        {
            Assert.Equal(HttpStatusCode.Created, built.StatusCode);
        }

        var writers = ReliabilityMode.RacingWriters;
        var ids = Enumerable.Range(0, writers).Select(_ => Guid.CreateVersion7()).ToArray();
        var answers = new ConcurrentBag<(int Writer, int Status, string? Type)>();
        var won = new ConcurrentDictionary<int, long>();
        using var start = new SemaphoreSlim(0);
        var racing = Enumerable.Range(0, writers).Select(w => Task.Run(async () =>
        {
            await start.WaitAsync(Ct);
            for (var attempt = 0; attempt < 10_000; attempt++)
            {
                using var read = await reporting.GetAsync(new Uri($"/api/v1/units/{serial}", UriKind.Relative), Ct);
                Assert.Equal(HttpStatusCode.OK, read.StatusCode);
                var version = read.Headers.ETag!.Tag.Trim('"');
                using var request = Ingest.Post(path, new JsonObject
                {
                    ["eventId"] = ids[w].ToString(),
                    ["type"] = "UnitTested",
                    // Every writer's test is a distinct fact, all at one moment (occurredAt may repeat, never go back).
                    ["occurredAt"] = "2025-06-02T09:00:00Z",
                    ["data"] = new JsonObject
                    {
                        ["station"] = string.Create(CultureInfo.InvariantCulture, $"EOL-{w:D3}"), ["result"] = "passed",
                        ["measuredKwh"] = 3890.4m, ["roundTripEfficiency"] = 0.92m,
                    },
                });
                request.Headers.IfMatch.ParseAdd($"\"{version}\"");
                using var response = await line.SendAsync(request, Ct);
                var body = await response.Content.ReadAsStringAsync(Ct);
                answers.Add((w, (int)response.StatusCode, Ingest.ProblemType(body)));
                if (response.StatusCode == HttpStatusCode.Created)
                {
                    using var receipt = JsonDocument.Parse(body);
                    won[w] = receipt.RootElement.GetProperty("version").GetInt64();
                    return;
                }

                if (response.StatusCode is not (HttpStatusCode.PreconditionFailed or HttpStatusCode.Conflict)) return;
            }
        }, Ct)).ToArray();
        start.Release(writers);
        await Task.WhenAll(racing);

        var stored = (await LedgerCheck.ReadEventsAsync(cluster.Superuser)).Where(e => e.Serial == serial).OrderBy(e => e.Version).ToList();
        var all = answers.ToList();
        summary.Add("writers", writers);
        summary.Add("requests sent (posts)", all.Count);
        summary.Add("accepted (201)", all.Count(a => a.Status == 201));
        summary.Add("told 412 precondition-failed", all.Count(a => a.Status == 412));
        summary.Add("told 409", all.Count(a => a.Status == 409));
        summary.Add("other answers", string.Join(", ", all.Where(a => a.Status is not (201 or 409 or 412)).Select(a => $"{a.Status} {a.Type}")));
        summary.Add("most attempts by one writer", all.GroupBy(a => a.Writer).Max(g => g.Count()));
        summary.Add("stream versions", $"{stored.FirstOrDefault()?.Version}..{stored.LastOrDefault()?.Version} ({stored.Count} events)");
        summary.Publish();

        Assert.All(all, a => Assert.True(a.Status is 201 or 412 or 409, $"writer {a.Writer} got {a.Status} {a.Type}"));
        Assert.All(all.Where(a => a.Status == 412), a => Assert.EndsWith("/precondition-failed", a.Type));
        Assert.Equal(writers, won.Count);
        Assert.Equal(Enumerable.Range(1, writers + 1).Select(v => (long)v), stored.Select(e => e.Version));
        Assert.Equal(writers, stored.Count(e => e.Type == "UnitTested"));
        Assert.All(Enumerable.Range(0, writers), w => Assert.Single(stored, e => e.EventId == ids[w]));
        // Each winner's receipt names the version its event holds.
        Assert.All(won, w => Assert.Equal(ids[w.Key], stored.Single(e => e.Version == w.Value).EventId));
    }
}
