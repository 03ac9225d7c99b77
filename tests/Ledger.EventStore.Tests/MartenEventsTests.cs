using System.Text;
using System.Text.Json;
using Ledger.EventStore.Appending;
using Ledger.EventStore.Hashing;

namespace Ledger.EventStore.Tests;

/// <summary>The headers object the store writes into <c>mt_events</c>, which migration 0006's view and Marten read back.</summary>
public sealed class MartenEventsTests
{
    [Theory]
    [InlineData("""{}""")]
    [InlineData("""{"actor":"lathrop-line-1","actorId":"0193a5e4-7c1f-7cc3-9a36-5d3d2b1f8e10","correlationId":"c-1"}""")]
    [InlineData("""{"actor":"Zoë \"quoted\" \\ <tag> & 'x' + é€\u0001","extra":{"k":"\n"}}""")]
    public void Headers_are_what_a_json_writer_writes(string metadataJson)
    {
        var hash = SHA256Of(metadataJson);
        var occurredAt = new DateTimeOffset(2025, 2, 11, 8, 30, 0, 123, TimeSpan.FromHours(8)).AddTicks(4560);

        var headers = MartenEvents.Headers(hash, metadataJson, occurredAt);

        // What the store wrote before it built the string itself (and what the view parses).
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString(MartenEvents.HashHeader, Convert.ToHexStringLower(hash));
            json.WritePropertyName(MartenEvents.MetadataHeader);
            json.WriteRawValue(metadataJson);
            json.WriteString(MartenEvents.OccurredAtHeader, EventHasher.FormatTimestamp(occurredAt));
            json.WriteEndObject();
        }

        Assert.Equal(Encoding.UTF8.GetString(buffer.ToArray()), headers);
        using var parsed = JsonDocument.Parse(headers);
        Assert.Equal("2025-02-11T00:30:00.123456Z", parsed.RootElement.GetProperty(MartenEvents.OccurredAtHeader).GetString());
    }

    private static byte[] SHA256Of(string text) => System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes(text));
}
