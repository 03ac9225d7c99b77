using System.Text.Json;
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
        while ((read = await request.Body.ReadAsync(chunk, context.RequestAborted)) > 0)
        {
            if (buffer.Length + read > maxBytes) return (null, TooLarge(context, maxBytes));
            buffer.Write(chunk, 0, read);
        }

        try
        {
            var document = JsonDocument.Parse(buffer.GetBuffer().AsMemory(0, (int)buffer.Length), new JsonDocumentOptions { MaxDepth = MaxDepth });
            return (document, null);
        }
        catch (JsonException e)
        {
            return (null, LedgerResponse.Problem(context, StatusCodes.Status400BadRequest, ProblemTypes.MalformedJson,
                "The body is not valid JSON.",
                $"JSON could not be read at line {(e.LineNumber ?? 0) + 1}, byte {(e.BytePositionInLine ?? 0) + 1}: fix the sender's serializer."));
        }
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
