using System.Buffers;
using System.Globalization;
using System.Security.Cryptography;

namespace Ledger.EventStore.Hashing;

/// <summary>
/// Computes an event's hash: SHA-256 over the RFC 8785 canonical form of its envelope, which includes the previous
/// event's hash in the same stream. Chaining per stream (not globally) keeps writers of different streams independent.
/// The encoding is specified in docs/auditing.md so that auditors can verify without this code.
/// </summary>
public static class EventHasher
{
    /// <summary>Length of a hash in bytes.</summary>
    public const int HashLength = 32;

    /// <summary>The timestamp layout inside the envelope: UTC with exactly six fractional digits.</summary>
    public const string TimestampFormat = "yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'";

    /// <summary>Hashes an event. <paramref name="data"/> and <paramref name="metadata"/> are JSON texts.</summary>
    public static byte[] Hash(
        string streamId, long streamVersion, Guid eventId, string type, string data, string metadata,
        DateTimeOffset occurredAt, DateTimeOffset recordedAt, ReadOnlySpan<byte> previousHash) =>
        Hash(streamId, streamVersion, eventId, type, CanonicalJson.Canonicalize(data), CanonicalJson.Canonicalize(metadata),
            occurredAt, recordedAt, previousHash);

    /// <summary>Hashes an event whose payloads are already in canonical form (see <see cref="CanonicalJson"/>).</summary>
    public static byte[] Hash(
        string streamId, long streamVersion, Guid eventId, string type, ReadOnlySpan<byte> canonicalData,
        ReadOnlySpan<byte> canonicalMetadata, DateTimeOffset occurredAt, DateTimeOffset recordedAt, ReadOnlySpan<byte> previousHash)
    {
        // One buffer per thread, reused: hashing never awaits, and a buffer per event was most of what hashing allocated.
        var buffer = t_envelope ??= new ArrayBufferWriter<byte>(1024);
        buffer.ResetWrittenCount();
        WriteEnvelope(buffer, streamId, streamVersion, eventId, type, canonicalData, canonicalMetadata, occurredAt, recordedAt, previousHash);
        var hash = SHA256.HashData(buffer.WrittenSpan);
        // A rare large event must not leave its buffer behind on a pooled thread.
        if (buffer.Capacity > MaxKeptEnvelopeBytes) t_envelope = null;
        return hash;
    }

    private const int MaxKeptEnvelopeBytes = 64 * 1024;

    [ThreadStatic]
    private static ArrayBufferWriter<byte>? t_envelope;

    /// <summary>Writes the canonical envelope that is hashed (exposed so that verifiers can show what they hashed).</summary>
    public static void WriteEnvelope(
        IBufferWriter<byte> output, string streamId, long streamVersion, Guid eventId, string type, ReadOnlySpan<byte> canonicalData,
        ReadOnlySpan<byte> canonicalMetadata, DateTimeOffset occurredAt, DateTimeOffset recordedAt, ReadOnlySpan<byte> previousHash)
    {
        ArgumentNullException.ThrowIfNull(output);

        // Members in RFC 8785 order (sorted by UTF-16 code units), written directly so nothing is sorted per event.
        output.Write("{\"data\":"u8);
        output.Write(canonicalData);
        Span<char> text = stackalloc char[64];
        output.Write(",\"eventId\":"u8);
        eventId.TryFormat(text, out var written, "D");
        CanonicalJson.WriteString(text[..written], output);
        output.Write(",\"metadata\":"u8);
        output.Write(canonicalMetadata);
        output.Write(",\"occurredAt\":"u8);
        CanonicalJson.WriteString(FormatTimestamp(occurredAt, text), output);
        output.Write(",\"previousHash\":"u8);
        if (previousHash.IsEmpty) output.Write("null"u8);
        else CanonicalJson.WriteString(Hex(previousHash, text), output);
        output.Write(",\"recordedAt\":"u8);
        CanonicalJson.WriteString(FormatTimestamp(recordedAt, text), output);
        output.Write(",\"streamId\":"u8);
        CanonicalJson.WriteString(streamId, output);
        output.Write(",\"streamVersion\":"u8);
        CanonicalJson.WriteAscii(CanonicalJson.FormatNumber(streamVersion), output);
        output.Write(",\"type\":"u8);
        CanonicalJson.WriteString(type, output);
        output.Write("}"u8);
    }

    /// <summary>The envelope's timestamp text.</summary>
    public static string FormatTimestamp(DateTimeOffset value) =>
        value.UtcDateTime.ToString(TimestampFormat, CultureInfo.InvariantCulture);

    private static ReadOnlySpan<char> Hex(ReadOnlySpan<byte> bytes, Span<char> destination) =>
        Convert.TryToHexStringLower(bytes, destination, out var written) ? destination[..written] : Convert.ToHexStringLower(bytes);

    /// <summary>The envelope's timestamp text, written into <paramref name="destination"/> (64 characters suffice).</summary>
    private static ReadOnlySpan<char> FormatTimestamp(DateTimeOffset value, Span<char> destination) =>
        value.UtcDateTime.TryFormat(destination, out var written, TimestampFormat, CultureInfo.InvariantCulture)
            ? destination[..written]
            : throw new InvalidOperationException($"{value:O} does not fit the envelope's timestamp buffer.");
}
