using System.Buffers.Text;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Security.Cryptography;

namespace Ledger.Api.Access;

/// <summary>
/// The text of an API key: <c>ldg_&lt;32 hex digits of the key id&gt;_&lt;43 base64url characters of 32 random bytes&gt;</c>.
/// The id in the clear lets the server find the key with one primary-key lookup; only the secret's SHA-256 is stored.
/// </summary>
public sealed class ApiKeyText
{
    private const string Prefix = "ldg_";
    private const int SecretBytes = 32;
    private const int SecretChars = 43; // base64url of 32 bytes, unpadded
    private const int Length = 4 + 32 + 1 + SecretChars;

    private readonly byte[] secret;

    private ApiKeyText(Guid id, byte[] secret) => (Id, this.secret) = (id, secret);

    /// <summary>The key's id, as stored in <c>ledger.api_keys.id</c>.</summary>
    public Guid Id { get; }

    /// <summary>A new key with a version-7 id and 32 bytes from the system's cryptographic random number generator.</summary>
    public static ApiKeyText Generate() => new(Guid.CreateVersion7(), RandomNumberGenerator.GetBytes(SecretBytes));

    /// <summary>Parses key text; false for anything not exactly of the key format.</summary>
    public static bool TryParse(string? text, [NotNullWhen(true)] out ApiKeyText? key)
    {
        key = null;
        if (text is null || text.Length != Length || !text.StartsWith(Prefix, StringComparison.Ordinal) || text[36] != '_') return false;
        var hex = text.AsSpan(4, 32);
        foreach (var c in hex)
        {
            if (!char.IsAsciiHexDigitLower(c) && !char.IsAsciiDigit(c)) return false;
        }

        if (!Guid.TryParseExact(hex, "N", out var id)) return false;
        var secret = new byte[SecretBytes];
        if (Base64Url.DecodeFromChars(text.AsSpan(37), secret, out var read, out var written) is not System.Buffers.OperationStatus.Done
            || read != SecretChars || written != SecretBytes)
        {
            return false;
        }

        // Base64url of 32 bytes leaves two spare bits in the last character; a key must be in its one canonical spelling.
        if (!string.Equals(Base64Url.EncodeToString(secret), text[37..], StringComparison.Ordinal)) return false;
        key = new ApiKeyText(id, secret);
        return true;
    }

    /// <summary>SHA-256 of the secret: what the table keeps. Fine for 256-bit random secrets, which cannot be guessed.</summary>
    public byte[] SecretHash() => SHA256.HashData(secret);

    /// <summary>Whether <paramref name="storedHash"/> is this key's secret hash, compared in constant time.</summary>
    public bool Matches(ReadOnlySpan<byte> storedHash) => CryptographicOperations.FixedTimeEquals(SecretHash(), storedHash);

    /// <summary>The full key text. Show it once; never log it.</summary>
    public override string ToString() =>
        Prefix + Id.ToString("N", CultureInfo.InvariantCulture) + "_" + Base64Url.EncodeToString(secret);
}
