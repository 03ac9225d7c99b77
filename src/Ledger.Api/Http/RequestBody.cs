using System.Text.Json;
using System.Text.Unicode;
using Ledger.Api.ServiceDefaults;

namespace Ledger.Api.Http;

/// <summary>
/// Reads a JSON request body within a size limit, whatever the server (Kestrel or the test host) and however the body
/// is framed (Content-Length or chunked). Refusals are problem responses: 415, 413, 400.
/// </summary>
internal static class RequestBody
{
    /// <summary>JSON nested deeper than this is refused: no event needs it, and deep nesting is a classic parser attack.</summary>
    public const int MaxDepth = 32;

    public static async Task<(JsonDocument? Document, LedgerResponse? Refusal)> ReadJsonAsync(HttpContext context, long maxBytes)
    {
        var request = context.Request;
        if (!IsJson(request.ContentType))
        {
            return (null, LedgerResponse.Problem(context, StatusCodes.Status415UnsupportedMediaType, ProblemTypes.UnsupportedMediaType,
                "The body must be JSON.", $"Send Content-Type: application/json (got '{request.ContentType ?? "none"}')."));
        }

        if (request.ContentLength > maxBytes) return (null, TooLarge(context, maxBytes));

        using var buffer = new MemoryStream();
        var chunk = new byte[16 * 1024];
        int read;
        try
        {
            while ((read = await request.Body.ReadAsync(chunk, context.RequestAborted)) > 0)
            {
                if (buffer.Length + read > maxBytes) return (null, TooLarge(context, maxBytes));
                buffer.Write(chunk, 0, read);
            }
        }
        catch (IOException e) when (!context.RequestAborted.IsCancellationRequested)
        {
            // The body ended before its Content-Length, its chunking is broken (a chunk size too large for Kestrel even
            // surfaces as a bare IOException), or it trickled in too slowly. Found by the reliability suite's fuzzer: these
            // were 500s.
            var status = e is BadHttpRequestException bad ? bad.StatusCode : StatusCodes.Status400BadRequest;
            return (null, status == StatusCodes.Status413PayloadTooLarge
                ? TooLarge(context, maxBytes)
                : LedgerResponse.Problem(context, status, ProblemTypes.ForStatus(status), "The body could not be read.",
                    "The request's body did not arrive as its headers announced (Content-Length, chunked encoding) or in time."));
        }

        var bytes = buffer.GetBuffer().AsMemory(0, (int)buffer.Length);
        // JsonDocument does not check the UTF-8 inside strings until they are read, where it throws; refuse it here
        // instead (found by the fuzzer: invalid UTF-8 in a property name was a 500).
        if (!Utf8.IsValid(bytes.Span))
        {
            return (null, LedgerResponse.Problem(context, StatusCodes.Status400BadRequest, ProblemTypes.MalformedJson,
                "The body is not valid JSON.", "The body is not valid UTF-8: JSON must be sent as UTF-8 text."));
        }

        // Before the parse: JsonDocument's own check for duplicate names throws on such a name too.
        if (HasUndecodableEscape(bytes.Span))
        {
            return (null, LedgerResponse.Problem(context, StatusCodes.Status400BadRequest, ProblemTypes.MalformedJson,
                "The body is not valid JSON.", "A string escape is not Unicode text (a lone surrogate such as \\ud835)."));
        }

        try
        {
            // Duplicate names are refused: which one counts differs between parsers, so a body could mean one thing to
            // the sender and another to the ledger (the fuzzer found {"nameplateKwh": 1, "nameplateKwh": 3916} accepted).
            var document = JsonDocument.Parse(bytes, new JsonDocumentOptions { MaxDepth = MaxDepth, AllowDuplicateProperties = false });
            return (document, null);
        }
        catch (JsonException e)
        {
            // The parser reports no position for a duplicate, only a message that names it (not a code).
            var detail = e.Message.Contains("uplicate", StringComparison.Ordinal)
                ? "A property name appears more than once in one object; send each once."
                : $"JSON could not be read at line {(e.LineNumber ?? 0) + 1}, byte {(e.BytePositionInLine ?? 0) + 1}: fix the sender's serializer.";
            return (null, LedgerResponse.Problem(context, StatusCodes.Status400BadRequest, ProblemTypes.MalformedJson,
                "The body is not valid JSON.", detail));
        }
    }

    /// <summary>
    /// Escapes can spell lone UTF-16 surrogates (<c>"\ud835"</c>), which are valid JSON but no text: reading such a string or
    /// property name throws: they were 500s (found while extending the reliability suite's fuzzer, which now sends them).
    /// Only escaped values are decoded.
    /// </summary>
    private static bool HasUndecodableEscape(ReadOnlySpan<byte> json)
    {
        var reader = new Utf8JsonReader(json, new JsonReaderOptions { MaxDepth = MaxDepth });
        try
        {
            while (reader.Read())
            {
                if (reader.TokenType is not (JsonTokenType.String or JsonTokenType.PropertyName) || !reader.ValueIsEscaped) continue;
                try
                {
                    reader.GetString();
                }
                catch (InvalidOperationException)
                {
                    return true;
                }
            }
        }
        catch (JsonException)
        {
            // Not JSON at all: the parse that follows says where.
        }

        return false;
    }

    private static bool IsJson(string? contentType)
    {
        if (string.IsNullOrEmpty(contentType)) return false;
        var mediaType = contentType.Split(';', 2)[0].Trim();
        return mediaType.Equals("application/json", StringComparison.OrdinalIgnoreCase)
               || (mediaType.StartsWith("application/", StringComparison.OrdinalIgnoreCase) && mediaType.EndsWith("+json", StringComparison.OrdinalIgnoreCase));
    }

    private static LedgerResponse TooLarge(HttpContext context, long maxBytes) =>
        LedgerResponse.Problem(context, StatusCodes.Status413PayloadTooLarge, ProblemTypes.PayloadTooLarge, "The body is too large.",
            $"Bodies of this endpoint are limited to {maxBytes} bytes; split the events into several requests.");
}
