using System.Globalization;
using System.Text;

namespace Ledger.Reliability.Tests.Fuzzing;

/// <summary>How a case travels: through HttpClient, or as raw bytes on a socket (framing HttpClient will not produce).</summary>
internal enum Transport
{
    Http,
    Raw,
}

/// <summary>The keys a fuzz run holds; cases pick the one that gets them deepest into the service (or a wrong one on purpose).</summary>
internal sealed record FuzzKeys(string Admin, string LineLathrop, string LineShanghai, string Reporting, string Auditor, string Revoked);

/// <summary>One request of the fuzzer, reproducible from (seed, index).</summary>
internal sealed class FuzzCase
{
    public required int Index { get; init; }
    public required string Category { get; init; }
    public string Method { get; set; } = "GET";

    /// <summary>Path and query, as sent (already percent-encoded where meant to be).</summary>
    public string Target { get; set; } = "/api/v1/whoami";

    /// <summary>The API key sent as <c>Authorization: Bearer</c>; null sends none (or what <see cref="Headers"/> says).</summary>
    public string? Key { get; set; }

    public List<(string Name, string Value)> Headers { get; } = [];
    public byte[]? Body { get; set; }

    /// <summary>The Content-Type header of the body; null sends none.</summary>
    public string? ContentType { get; set; }

    /// <summary>Send the body chunked, without Content-Length.</summary>
    public bool Chunked { get; set; }

    public Transport Transport { get; set; }

    /// <summary>For <see cref="Transport.Raw"/>: the whole request; <c>{HOST}</c> is replaced by the node's address.</summary>
    public byte[]? Raw { get; set; }

    /// <summary>A write that should succeed: the fuzz run checks its events are stored.</summary>
    public bool MeantToSucceed { get; set; }

    public override string ToString()
    {
        var body = Body is null ? "" : $" body {Body.Length} bytes: {Excerpt(Body)}";
        var raw = Raw is null ? "" : $" raw: {Excerpt(Raw)}";
        return string.Create(CultureInfo.InvariantCulture, $"#{Index} [{Category}] {Method} {Excerpt(Encoding.UTF8.GetBytes(Target))}{body}{raw}");
    }

    private static string Excerpt(byte[] bytes)
    {
        var text = Encoding.UTF8.GetString(bytes, 0, Math.Min(bytes.Length, 160));
        return new string([.. text.Select(c => char.IsControl(c) ? '·' : c)]) + (bytes.Length > 160 ? "…" : "");
    }
}

/// <summary>What came back.</summary>
internal sealed record FuzzResult(
    FuzzCase Case, int Status, string? MediaType, bool FromApplication, byte[] Body, TimeSpan Duration, string? Error)
{
    public bool IsWrite => Case.Method == "POST" && (Case.Target.StartsWith("/api/v1/events", StringComparison.Ordinal)
                                                      || (Case.Target.StartsWith("/api/v1/units/", StringComparison.Ordinal) && Case.Target.Split('?')[0].EndsWith("/events", StringComparison.Ordinal)));
}
