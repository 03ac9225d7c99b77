using System.Text;

namespace Ledger.Api.Http;

/// <summary>
/// Cursors handed to clients as opaque base64url text: clients pass them back, they do not build them. The kind prefix
/// keeps a cursor of one endpoint from being accepted by another.
/// </summary>
internal static class OpaqueCursor
{
    public static string Encode(string kind, string value) =>
        Convert.ToBase64String(Encoding.UTF8.GetBytes($"{kind}:{value}")).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    public static bool TryDecode(string kind, string text, out string value)
    {
        value = string.Empty;
        try
        {
            var padded = text.Replace('-', '+').Replace('_', '/');
            padded += new string('=', (4 - padded.Length % 4) % 4);
            var decoded = Encoding.UTF8.GetString(Convert.FromBase64String(padded));
            if (!decoded.StartsWith(kind + ":", StringComparison.Ordinal)) return false;
            value = decoded[(kind.Length + 1)..];
            return true;
        }
        catch (FormatException)
        {
            return false;
        }
    }
}
