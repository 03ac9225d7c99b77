using System.Security.Cryptography;
using System.Text;

namespace Ledger.Api.ServiceDefaults;

/// <summary>
/// Name-based ids (RFC 9562 version 8, from SHA-256): the same parts always give the same id. For what must be
/// recognised when it comes again: the events of a retried request, a scheduled run, a milestone announced twice.
/// </summary>
public static class NameBasedId
{
    /// <summary>The id named by <paramref name="parts"/>, joined by line feeds.</summary>
    public static Guid From(params string[] parts)
    {
        ArgumentNullException.ThrowIfNull(parts);
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes(string.Join('\n', parts)));
        var bytes = hash.AsSpan(0, 16).ToArray();
        bytes[6] = (byte)((bytes[6] & 0x0F) | 0x80); // version 8: custom, name-based
        bytes[8] = (byte)((bytes[8] & 0x3F) | 0x80); // RFC 9562 variant
        return new Guid(bytes, bigEndian: true);
    }
}
