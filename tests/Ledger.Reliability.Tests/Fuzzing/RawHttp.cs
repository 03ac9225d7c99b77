using System.Globalization;
using System.Net.Sockets;
using System.Text;

namespace Ledger.Reliability.Tests.Fuzzing;

/// <summary>A response read off a socket: status, headers (names lower-cased) and body.</summary>
internal sealed record RawResponse(int Status, IReadOnlyDictionary<string, string> Headers, byte[] Body);

/// <summary>
/// HTTP/1.1 written byte by byte to a TCP socket, for what HttpClient will not send: lying Content-Length, broken
/// chunking, raw bytes in headers, duplicated framing headers. The request should say <c>Connection: close</c>.
/// </summary>
internal static class RawHttp
{
    public static async Task<RawResponse?> SendAsync(int port, byte[] request, TimeSpan timeout)
    {
        using var client = new TcpClient();
        using var deadline = new CancellationTokenSource(timeout);
        await client.ConnectAsync("127.0.0.1", port, deadline.Token);
        var stream = client.GetStream();
        try
        {
            // Never half-closed: Kestrel takes the end of the client's input for the end of the connection and drops the
            // answer. A body that stops short is left to the server's minimum data rate instead.
            await stream.WriteAsync(request, deadline.Token);
        }
        catch (IOException)
        {
            // The server may answer and close before it has read everything (a body it refused).
        }

        using var received = new MemoryStream();
        var buffer = new byte[16 * 1024];
        try
        {
            int read;
            while ((read = await stream.ReadAsync(buffer, deadline.Token)) > 0)
            {
                received.Write(buffer, 0, read);
                if (Parse(received.ToArray()) is { Complete: true }) break;
            }
        }
        catch (IOException)
        {
            // Reset after the answer: what arrived is what counts.
        }

        return Parse(received.ToArray())?.Response;
    }

    private static (RawResponse Response, bool Complete)? Parse(byte[] bytes)
    {
        var end = IndexOf(bytes, "\r\n\r\n"u8);
        if (end < 0) return null;
        var head = Encoding.Latin1.GetString(bytes, 0, end).Split("\r\n");
        var statusLine = head[0].Split(' ', 3);
        if (statusLine.Length < 2 || !int.TryParse(statusLine[1], NumberStyles.None, CultureInfo.InvariantCulture, out var status)) return null;
        var headers = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var line in head.Skip(1))
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon > 0) headers[line[..colon].Trim().ToLowerInvariant()] = line[(colon + 1)..].Trim();
        }

        var body = bytes[(end + 4)..];
        var complete = true;
        if (headers.TryGetValue("content-length", out var length) && int.TryParse(length, NumberStyles.None, CultureInfo.InvariantCulture, out var n))
        {
            complete = body.Length >= n;
            body = body[..Math.Min(n, body.Length)];
        }
        else if (headers.TryGetValue("transfer-encoding", out var encoding) && encoding.Contains("chunked", StringComparison.OrdinalIgnoreCase))
        {
            (body, complete) = Dechunk(body);
        }
        else
        {
            complete = false; // until the server closes
        }

        return (new RawResponse(status, headers, body), complete);
    }

    private static (byte[] Body, bool Complete) Dechunk(byte[] bytes)
    {
        using var body = new MemoryStream();
        var at = 0;
        while (true)
        {
            var line = IndexOf(bytes.AsSpan(at), "\r\n"u8);
            if (line < 0) return (body.ToArray(), false);
            var sizeText = Encoding.ASCII.GetString(bytes, at, line).Split(';')[0].Trim();
            if (!int.TryParse(sizeText, NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var size)) return (body.ToArray(), false);
            at += line + 2;
            if (size == 0) return (body.ToArray(), true);
            if (at + size > bytes.Length) return (body.ToArray(), false);
            body.Write(bytes, at, size);
            at += size + 2;
        }
    }

    private static int IndexOf(ReadOnlySpan<byte> bytes, ReadOnlySpan<byte> value) => bytes.IndexOf(value);
}
