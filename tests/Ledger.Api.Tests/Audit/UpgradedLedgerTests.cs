using System.Net.Http.Json;
using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Text.Json.Nodes;
using Ledger.Api.Access;
using Ledger.Api.Tests.Support;
using Ledger.Api.Tests.WritePath;
using Ledger.EventStore.Audit;
using Ledger.Production.Units;
using Ledger.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Ledger.Api.Tests.Audit;

/// <summary>
/// A ledger upgraded from the own store (its real export, tests/Ledger.EventStore.Tests/Audit/Data) as the service
/// serves it: auditors verify it against the digest they took before the upgrade, get proofs that lead to that digest's
/// chain hash, replay it from the feed, and Marten itself reads the imported streams as the domain's events.
/// </summary>
public sealed class UpgradedLedgerTests(DatabaseFixture database) : IClassFixture<DatabaseFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task The_service_verifies_proves_and_replays_the_imported_history_against_the_digest_taken_before_the_upgrade()
    {
        var (file, digest) = OwnStoreExport();
        await using var db = await database.CreateDatabaseAsync(Ct);
        await using var api = new LedgerApiFactory(db.ConnectionString);
        using var auditor = api.CreateClient(await api.CreateKeyAsync(LedgerRole.Auditor));
        await using (var owner = EventStore.EventStoreDataSource.Create(db.ConnectionString, "import"))
            await LedgerImport.ImportAsync(owner, new MemoryStream(file), eventTypes: UnitEvents.StoredNamesByType, cancellationToken: Ct);

        using var verify = await auditor.PostAsJsonAsync(new Uri("/api/v1/audit/verify", UriKind.Relative),
            new JsonObject { ["digest"] = new JsonObject { ["blockNumber"] = digest.BlockNumber, ["chainHash"] = digest.ChainHash } }, Ct);
        var report = await verify.BodyAsync();
        Assert.True(report.GetProperty("ok").GetBoolean(), report.ToString());
        Assert.True(report.GetProperty("digest").GetProperty("matches").GetBoolean());
        Assert.Equal(169, report.GetProperty("eventsChecked").GetInt64());

        // A proof of an event the old digest's block sealed leads to exactly that chain hash.
        var sealedInDigestBlock = EventIdAtPosition(file, 116);
        using var proofResponse = await auditor.GetAsync(new Uri($"/api/v1/audit/proof/{sealedInDigestBlock}", UriKind.Relative), Ct);
        var proof = await proofResponse.BodyAsync();
        Assert.True(AuditEndpointsTests.ProofChecksOut(proof));
        Assert.Equal((digest.BlockNumber, digest.ChainHash),
            (proof.GetProperty("block").GetProperty("number").GetInt64(), proof.GetProperty("block").GetProperty("chainHash").GetString()));

        // The feed replays every imported event once, in position order.
        var feed = await ReadFeedAsync(auditor, expected: 169);
        Assert.Equal(PositionsOf(file), feed.Select(e => e.GetProperty("position").GetInt64()));

        // Marten's own reader sees the imported stream as the domain's events, at their positions.
        var store = api.Services.GetRequiredService<EventStore.EventStore>();
        await using var session = store.Marten.QuerySession();
        var stream = await session.Events.FetchStreamAsync("MP-2025-000001", token: Ct);
        var recorded = EventLines(file).Where(e => e.GetProperty("streamId").GetString() == "MP-2025-000001")
            .Select(e => (e.GetProperty("streamVersion").GetInt64(), e.GetProperty("type").GetString()!)).ToList();
        Assert.Equal(recorded, stream.Select(e => (e.Version, UnitEvents.Of(Assert.IsAssignableFrom<IUnitEvent>(e.Data)).StoredName)));
        var history = await (await auditor.GetAsync(new Uri("/api/v1/units/MP-2025-000001/events", UriKind.Relative), Ct)).BodyAsync();
        Assert.Equal(stream.Select(e => e.Sequence), history.GetProperty("events").EnumerateArray().Select(e => e.GetProperty("position").GetInt64()));
    }

    private static async Task<List<JsonElement>> ReadFeedAsync(HttpClient auditor, int expected)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        var all = new List<JsonElement>();
        string? after = null;
        while (all.Count < expected)
        {
            Assert.True(DateTime.UtcNow < deadline, $"the feed showed {all.Count} of {expected} events within a minute");
            using var response = await auditor.GetAsync(new Uri("/api/v1/events?limit=50" + (after is null ? "" : $"&after={after}"), UriKind.Relative), Ct);
            var page = await response.BodyAsync();
            var events = page.GetProperty("events").EnumerateArray().ToList();
            all.AddRange(events);
            after = page.GetProperty("next").GetString();
            if (events.Count == 0) await Task.Delay(50, Ct);
        }

        return all;
    }

    private static (byte[] File, (long BlockNumber, string ChainHash) Digest) OwnStoreExport([CallerFilePath] string thisFile = "")
    {
        var data = Path.Combine(Path.GetDirectoryName(thisFile)!, "..", "..", "Ledger.EventStore.Tests", "Audit", "Data");
        using var digest = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(data, "own-store-v1.digest.json")));
        return (File.ReadAllBytes(Path.Combine(data, "own-store-v1.ndjson")),
            (digest.RootElement.GetProperty("blockNumber").GetInt64(), digest.RootElement.GetProperty("chainHash").GetString()!));
    }

    private static IEnumerable<JsonElement> EventLines(byte[] file) =>
        System.Text.Encoding.UTF8.GetString(file).Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => JsonDocument.Parse(l).RootElement.Clone())
            .Where(e => e.TryGetProperty("kind", out var k) && k.GetString() == "event");

    private static string EventIdAtPosition(byte[] file, long position) =>
        EventLines(file).Single(e => e.GetProperty("position").GetInt64() == position).GetProperty("eventId").GetString()!;

    private static IEnumerable<long> PositionsOf(byte[] file) => EventLines(file).Select(e => e.GetProperty("position").GetInt64());
}
