using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using Ledger.Api.Access;
using Ledger.Api.Tests.Support;
using Ledger.Api.Tests.WritePath;
using Ledger.EventStore.Audit;
using Ledger.EventStore.Hashing;
using Ledger.Testing;
using static Ledger.Api.Tests.WritePath.RecordUnitEventsTests;

namespace Ledger.Api.Tests.Audit;

/// <summary>Auditors take digests, ask for inclusion proofs and check them without trusting the service, and ask it to verify.</summary>
public sealed class AuditEndpointsTests(DatabaseFixture database) : IClassFixture<DatabaseFixture>
{
    private static readonly Dictionary<string, string?> QuickSealing = new()
    {
        ["Ledger:Audit:SealInterval"] = "00:00:00.200",
        ["Ledger:Audit:PollInterval"] = "00:00:00.100",
    };

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Every_recorded_event_gets_a_proof_an_auditor_can_check_against_the_digest_without_the_service()
    {
        await using var db = await database.CreateDatabaseAsync(Ct);
        await using var api = new LedgerApiFactory(db.ConnectionString, settings: QuickSealing);
        using var auditor = api.CreateClient(await api.CreateKeyAsync(LedgerRole.Auditor));
        var serials = await RecordUnitsAsync(api, 4);
        var digest = await WaitForDigestAsync(auditor, sealedEvents: 8);

        foreach (var serial in serials)
        {
            var history = await (await auditor.GetAsync(new Uri($"/api/v1/units/{serial}/events", UriKind.Relative), Ct)).BodyAsync();
            foreach (var e in history.GetProperty("events").EnumerateArray())
            {
                using var response = await auditor.GetAsync(new Uri($"/api/v1/audit/proof/{e.GetProperty("eventId").GetString()}", UriKind.Relative), Ct);
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                var proof = await response.BodyAsync();
                Assert.True(ProofChecksOut(proof), $"proof of {e.GetProperty("eventId")}");
                Assert.Equal(e.GetProperty("hash").GetString(), proof.GetProperty("event").GetProperty("hash").GetString());
                if (proof.GetProperty("block").GetProperty("number").GetInt64() == digest.GetProperty("blockNumber").GetInt64())
                    Assert.Equal(digest.GetProperty("chainHash").GetString(), proof.GetProperty("block").GetProperty("chainHash").GetString());
            }
        }
    }

    [Fact]
    public async Task Verify_reports_the_counts_checked_and_proves_the_history_against_a_digest_the_auditor_kept()
    {
        await using var db = await database.CreateDatabaseAsync(Ct);
        await using var api = new LedgerApiFactory(db.ConnectionString, settings: QuickSealing);
        using var auditor = api.CreateClient(await api.CreateKeyAsync(LedgerRole.Auditor));
        await RecordUnitsAsync(api, 3);
        var digest = await WaitForDigestAsync(auditor, sealedEvents: 6);
        var kept = JsonNode.Parse(digest.GetRawText())!.AsObject(); // sent back whole, as an auditor kept it

        var plain = await VerifyAsync(auditor, null);
        var withDigest = await VerifyAsync(auditor, new JsonObject { ["digest"] = kept.DeepClone() });
        var forged = await VerifyAsync(auditor, new JsonObject { ["digest"] = new JsonObject { ["blockNumber"] = kept["blockNumber"]!.GetValue<long>(), ["chainHash"] = new string('a', 64) } });

        Assert.True(plain.GetProperty("ok").GetBoolean());
        Assert.Equal((6L, 3L), (plain.GetProperty("eventsChecked").GetInt64(), plain.GetProperty("streamsChecked").GetInt64()));
        Assert.True(withDigest.GetProperty("ok").GetBoolean());
        Assert.True(withDigest.GetProperty("digest").GetProperty("matches").GetBoolean());
        Assert.False(forged.GetProperty("ok").GetBoolean());
        Assert.Equal("digest-mismatch", forged.GetProperty("firstMismatch").GetProperty("kind").GetString());
    }

    [Theory]
    [InlineData("""{"digest":{"blockNumber":1,"chainHash":"xyz"}}""", "digest.chainHash")]
    [InlineData("""{"digest":{"blockNumber":0,"chainHash":"0000000000000000000000000000000000000000000000000000000000000000"}}""", "digest.blockNumber")]
    [InlineData("""{"digests":{}}""", "$")]
    public async Task A_bad_verify_request_is_400_naming_the_field(string body, string field)
    {
        await using var api = new LedgerApiFactory(database.ConnectionString);
        using var auditor = api.CreateClient(await api.CreateKeyAsync(LedgerRole.Auditor));

        using var response = await auditor.PostAsync(new Uri("/api/v1/audit/verify", UriKind.Relative), LineEvents.Json(JsonNode.Parse(body)!), Ct);

        var problem = await AssertProblemAsync(response, HttpStatusCode.BadRequest, "validation-failed");
        Assert.True(problem.GetProperty("errors").EnumerateObject().Any(e => e.Name.StartsWith(field, StringComparison.Ordinal)), problem.ToString());
    }

    [Fact]
    public async Task Before_sealing_there_is_no_digest_and_an_unsealed_event_is_409_with_retry_after_while_an_unknown_one_is_404()
    {
        await using var db = await database.CreateDatabaseAsync(Ct);
        await using var api = new LedgerApiFactory(db.ConnectionString, settings: new Dictionary<string, string?> { ["Ledger:Audit:RunSealer"] = "false" });
        using var auditor = api.CreateClient(await api.CreateKeyAsync(LedgerRole.Auditor));
        var serial = (await RecordUnitsAsync(api, 1))[0];
        var history = await (await auditor.GetAsync(new Uri($"/api/v1/units/{serial}/events", UriKind.Relative), Ct)).BodyAsync();
        var eventId = history.GetProperty("events")[0].GetProperty("eventId").GetString();

        using var digest = await auditor.GetAsync(new Uri("/api/v1/audit/digest", UriKind.Relative), Ct);
        using var unsealed = await auditor.GetAsync(new Uri($"/api/v1/audit/proof/{eventId}", UriKind.Relative), Ct);
        using var unknown = await auditor.GetAsync(new Uri($"/api/v1/audit/proof/{Guid.NewGuid()}", UriKind.Relative), Ct);
        using var notAnId = await auditor.GetAsync(new Uri("/api/v1/audit/proof/not-an-id", UriKind.Relative), Ct);

        await AssertProblemAsync(digest, HttpStatusCode.NotFound, "no-digest-yet");
        await AssertProblemAsync(unsealed, HttpStatusCode.Conflict, "event-not-sealed");
        Assert.True(unsealed.Headers.RetryAfter?.Delta > TimeSpan.Zero);
        await AssertProblemAsync(unknown, HttpStatusCode.NotFound, "event-not-found");
        await AssertProblemAsync(notAnId, HttpStatusCode.BadRequest, "validation-failed");
    }

    /// <summary>What an auditor's own code does with a proof: hash the event, make the leaf, walk to the root, hash the header.</summary>
    internal static bool ProofChecksOut(JsonElement proof)
    {
        var e = proof.GetProperty("event");
        var block = proof.GetProperty("block");
        var previous = e.GetProperty("previousHash").ValueKind == JsonValueKind.Null ? null : Convert.FromHexString(e.GetProperty("previousHash").GetString()!);
        var eventHash = EventHasher.Hash(e.GetProperty("streamId").GetString()!, e.GetProperty("streamVersion").GetInt64(), e.GetProperty("eventId").GetGuid(),
            e.GetProperty("type").GetString()!, e.GetProperty("data").GetRawText(), e.GetProperty("metadata").GetRawText(),
            DateTimeOffset.Parse(e.GetProperty("occurredAt").GetString()!, System.Globalization.CultureInfo.InvariantCulture),
            DateTimeOffset.Parse(e.GetProperty("recordedAt").GetString()!, System.Globalization.CultureInfo.InvariantCulture), previous);
        var leaf = MerkleTree.LeafHash(e.GetProperty("position").GetInt64(), eventHash);
        var path = proof.GetProperty("auditPath").EnumerateArray().Select(p => Convert.FromHexString(p.GetString()!)).ToArray();
        var root = Convert.FromHexString(block.GetProperty("merkleRoot").GetString()!);
        var previousChain = block.GetProperty("previousChainHash").ValueKind == JsonValueKind.Null ? null : Convert.FromHexString(block.GetProperty("previousChainHash").GetString()!);
        var chain = SealedBlock.ComputeChainHash(block.GetProperty("number").GetInt64(), block.GetProperty("eventCount").GetInt32(),
            block.GetProperty("firstPosition").GetInt64(), block.GetProperty("lastPosition").GetInt64(), root, previousChain,
            block.GetProperty("sealedAt").GetDateTimeOffset());
        return MerkleTree.VerifyInclusion(leaf, proof.GetProperty("leafIndex").GetInt64(), block.GetProperty("eventCount").GetInt64(), path, root)
               && Convert.ToHexStringLower(chain) == block.GetProperty("chainHash").GetString();
    }

    private static async Task<List<string>> RecordUnitsAsync(LedgerApiFactory api, int count)
    {
        using var line = api.CreateClient(await api.CreateKeyAsync(LedgerRole.Line, "shanghai"));
        var serials = new List<string>();
        for (var i = 0; i < count; i++)
        {
            var serial = LineEvents.NewSerial("SHA");
            using var response = await line.SendAsync(LineEvents.Post($"/api/v1/units/{serial}/events",
                new JsonArray(LineEvents.Built("shanghai"), LineEvents.Tested(at: LineEvents.Day.AddHours(2)))), Ct);
            Assert.Equal(HttpStatusCode.Created, response.StatusCode);
            serials.Add(serial);
        }

        return serials;
    }

    private static async Task<JsonElement> WaitForDigestAsync(HttpClient auditor, long sealedEvents)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            using var response = await auditor.GetAsync(new Uri("/api/v1/audit/digest", UriKind.Relative), Ct);
            if (response.StatusCode == HttpStatusCode.OK)
            {
                var digest = await response.BodyAsync();
                if (digest.GetProperty("sealedEvents").GetInt64() >= sealedEvents) return digest;
            }

            Assert.True(DateTime.UtcNow < deadline, $"{sealedEvents} events were not sealed within a minute");
            await Task.Delay(100, Ct);
        }
    }

    private static async Task<JsonElement> VerifyAsync(HttpClient auditor, JsonNode? body)
    {
        using var response = body is null
            ? await auditor.PostAsync(new Uri("/api/v1/audit/verify", UriKind.Relative), null, Ct)
            : await auditor.PostAsJsonAsync(new Uri("/api/v1/audit/verify", UriKind.Relative), body, Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return await response.BodyAsync();
    }
}
