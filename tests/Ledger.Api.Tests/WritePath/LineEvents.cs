using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Ledger.Api.Tests.WritePath;

/// <summary>What line systems send, as JSON: the envelopes of docs/api.md.</summary>
internal static class LineEvents
{
    public static readonly DateTimeOffset Day = new(2025, 3, 3, 8, 0, 0, TimeSpan.FromHours(8));

    public static string NewSerial(string prefix = "MP") => $"{prefix}-{Guid.NewGuid():N}"[..18].ToUpperInvariant();

    public static JsonObject Built(string factory = "lathrop", DateTimeOffset? at = null, Guid? id = null) => Envelope("UnitBuilt", at ?? Day, id, new JsonObject
    {
        ["factoryId"] = factory,
        ["line"] = "L1",
        ["model"] = "Megapack 2 XL",
        ["nameplateKwh"] = 3916,
    });

    public static JsonObject Tested(bool passed = true, DateTimeOffset? at = null, Guid? id = null)
    {
        var data = new JsonObject
        {
            ["station"] = "EOL-3",
            ["result"] = passed ? "passed" : "failed",
            ["measuredKwh"] = 3921.5,
            ["roundTripEfficiency"] = 0.92,
        };
        if (!passed) data["failureCode"] = "CELL-IMBALANCE";
        return Envelope("UnitTested", at ?? Day.AddHours(2), id, data);
    }

    public static JsonObject Shipped(string country = "AU", DateTimeOffset? at = null) => Envelope("UnitShipped", at ?? Day.AddDays(1), null, new JsonObject
    {
        ["destination"] = new JsonObject { ["country"] = country, ["site"] = "Waratah Super Battery" },
        ["carrier"] = "Maersk",
        ["shipmentId"] = "SHP-" + Guid.NewGuid().ToString("N")[..8],
    });

    public static JsonObject Envelope(string type, DateTimeOffset at, Guid? id, JsonObject data)
    {
        var envelope = new JsonObject
        {
            ["type"] = type,
            ["occurredAt"] = at.ToString("yyyy-MM-dd'T'HH:mm:sszzz", System.Globalization.CultureInfo.InvariantCulture),
            ["data"] = data,
        };
        if (id is not null) envelope["eventId"] = id.Value.ToString();
        return envelope;
    }

    public static JsonObject WithSerial(this JsonObject envelope, string serial)
    {
        var copy = (JsonObject)envelope.DeepClone();
        copy.Insert(0, "serial", serial);
        return copy;
    }

    public static StringContent Json(JsonNode node) => new(node.ToJsonString(), Encoding.UTF8, "application/json");

    public static HttpRequestMessage Post(string path, JsonNode body, string? idempotencyKey = null, string? ifMatch = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, new Uri(path, UriKind.Relative)) { Content = Json(body) };
        if (idempotencyKey is not null) request.Headers.Add("Idempotency-Key", idempotencyKey);
        if (ifMatch is not null) request.Headers.IfMatch.Add(new EntityTagHeaderValue(ifMatch));
        return request;
    }

    public static async Task<JsonElement> BodyAsync(this HttpResponseMessage response)
    {
        var text = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        using var document = JsonDocument.Parse(text);
        return document.RootElement.Clone();
    }
}
