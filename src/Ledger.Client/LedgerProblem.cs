using System.Net;
using System.Text.Json;

namespace Ledger.Client;

/// <summary>
/// An RFC 9457 problem as the ledger answered it. Switch on <see cref="Type"/> (see <see cref="LedgerProblemTypes"/>),
/// never on <see cref="Title"/> or <see cref="Detail"/>, which are for people.
/// </summary>
/// <param name="Type">The stable URI of the kind of error, such as <see cref="LedgerProblemTypes.RuleViolation"/>.</param>
/// <param name="Title">A short summary of the kind of error.</param>
/// <param name="Status">The HTTP status code.</param>
/// <param name="Detail">What went wrong with this request.</param>
/// <param name="Instance">A URI naming this occurrence, when the server gives one.</param>
/// <param name="Extensions">Every other member of the problem object (<c>correlationId</c>, <c>errors</c>, <c>code</c>, ...).</param>
public sealed record LedgerProblem(
    string Type, string? Title, int Status, string? Detail, string? Instance, IReadOnlyDictionary<string, JsonElement> Extensions)
{
    /// <summary>The id the ledger logged the request under; quote it when reporting a failure.</summary>
    public string? CorrelationId => StringExtension("correlationId");

    /// <summary>For <c>rule-violation</c>: the stable code of the rule broken, such as <c>test-not-passed</c>.</summary>
    public string? Code => StringExtension("code");

    /// <summary>
    /// For <c>validation-failed</c>: each field path (<c>data.nameplateKwh</c>, <c>events[3].serial</c>, <c>If-Match</c>)
    /// with its messages; empty for other problems.
    /// </summary>
    public IReadOnlyDictionary<string, string[]> Errors =>
        Extensions.TryGetValue("errors", out var errors) && errors.ValueKind == JsonValueKind.Object
            ? errors.EnumerateObject().ToDictionary(
                e => e.Name,
                e => e.Value.ValueKind == JsonValueKind.Array
                    ? [.. e.Value.EnumerateArray().Select(m => m.ValueKind == JsonValueKind.String ? m.GetString()! : m.GetRawText())]
                    : new[] { e.Value.ToString() },
                StringComparer.Ordinal)
            : new Dictionary<string, string[]>(StringComparer.Ordinal);

    /// <summary>A string member of the problem, or null when it is absent or not a string.</summary>
    /// <param name="name">The member's name, as the ledger writes it (camelCase).</param>
    public string? StringExtension(string name) =>
        Extensions.TryGetValue(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    /// <summary>Reads a <c>problem+json</c> body; for any other body, a problem made from the status line.</summary>
    internal static LedgerProblem Read(HttpStatusCode status, string? reasonPhrase, string? mediaType, string body)
    {
        var fallback = new LedgerProblem(
            LedgerProblemTypes.FromStatus, reasonPhrase ?? status.ToString(), (int)status,
            body.Length == 0 ? null : body.Length <= 500 ? body : body[..500] + "…", null, new Dictionary<string, JsonElement>());
        if (!IsJson(mediaType) || body.Length == 0) return fallback;

        try
        {
            using var document = JsonDocument.Parse(body);
            if (document.RootElement.ValueKind != JsonValueKind.Object) return fallback;
            string? type = null, title = null, detail = null, instance = null;
            var code = (int)status;
            var extensions = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
            foreach (var member in document.RootElement.EnumerateObject())
            {
                var value = member.Value;
                switch (member.Name)
                {
                    case "type" when value.ValueKind == JsonValueKind.String: type = value.GetString(); break;
                    case "title" when value.ValueKind == JsonValueKind.String: title = value.GetString(); break;
                    case "detail" when value.ValueKind == JsonValueKind.String: detail = value.GetString(); break;
                    case "instance" when value.ValueKind == JsonValueKind.String: instance = value.GetString(); break;
                    case "status" when value.TryGetInt32(out var s): code = s; break;
                    default: extensions[member.Name] = value.Clone(); break;
                }
            }

            // RFC 9457: an absent type means "about:blank", a problem that says no more than its status code.
            return new LedgerProblem(type ?? LedgerProblemTypes.FromStatus, title, code, detail, instance, extensions);
        }
        catch (JsonException)
        {
            return fallback;
        }
    }

    private static bool IsJson(string? mediaType) =>
        mediaType is not null
        && (mediaType.Equals("application/json", StringComparison.OrdinalIgnoreCase)
            || mediaType.EndsWith("+json", StringComparison.OrdinalIgnoreCase));
}

/// <summary>The ledger answered with an error. <see cref="Problem"/> says which, in the ledger's own terms.</summary>
public sealed class LedgerProblemException : Exception
{
    /// <summary>Creates the exception for a problem the ledger answered.</summary>
    /// <param name="problem">The problem.</param>
    /// <param name="retryAfter">The answer's <c>Retry-After</c>, if it had one.</param>
    public LedgerProblemException(LedgerProblem problem, TimeSpan? retryAfter = null)
        : base(Describe(problem))
    {
        ArgumentNullException.ThrowIfNull(problem);
        Problem = problem;
        RetryAfter = retryAfter;
    }

    /// <summary>The problem the ledger answered.</summary>
    public LedgerProblem Problem { get; }

    /// <summary>The HTTP status code.</summary>
    public HttpStatusCode StatusCode => (HttpStatusCode)Problem.Status;

    /// <summary>How long the ledger asked the caller to wait before trying again, when it said.</summary>
    public TimeSpan? RetryAfter { get; }

    private static string Describe(LedgerProblem problem)
    {
        ArgumentNullException.ThrowIfNull(problem);
        var text = $"{problem.Status} {problem.Type}: {problem.Title}";
        if (problem.Detail is { Length: > 0 } detail) text += $" {detail}";
        if (problem.CorrelationId is { } correlationId) text += $" (correlation id {correlationId})";
        return text;
    }
}

/// <summary>The <c>type</c> URIs of the ledger's problems (docs/api.md, "Error catalogue").</summary>
public static class LedgerProblemTypes
{
    /// <summary>The prefix every ledger problem type starts with.</summary>
    public const string Base = "https://ledger.example/problems/";

    /// <summary>RFC 9457's type for a problem that says no more than its status code (and for non-JSON error answers).</summary>
    public const string FromStatus = "about:blank";

    /// <summary>400: the body is not JSON.</summary>
    public const string MalformedJson = Base + "malformed-json";

    /// <summary>400: fields are missing, malformed or unknown; <see cref="LedgerProblem.Errors"/> names them.</summary>
    public const string ValidationFailed = Base + "validation-failed";

    /// <summary>401: no key, or a malformed, unknown or revoked key.</summary>
    public const string Unauthorized = Base + "unauthorized";

    /// <summary>403: the key's role does not allow the endpoint.</summary>
    public const string Forbidden = Base + "forbidden";

    /// <summary>403: a line key acting for another factory's unit.</summary>
    public const string WrongFactory = Base + "wrong-factory";

    /// <summary>404: no such resource (a factory, a projection).</summary>
    public const string NotFound = Base + "not-found";

    /// <summary>404: the unit has no history.</summary>
    public const string UnitNotFound = Base + "unit-not-found";

    /// <summary>409: other writers kept changing the unit; send the request again under a new Idempotency-Key.</summary>
    public const string VersionConflict = Base + "version-conflict";

    /// <summary>409: the same Idempotency-Key is still being processed (retried by the client).</summary>
    public const string RequestInFlight = Base + "request-in-flight";

    /// <summary>412: <c>If-Match</c> is not the unit's version; the problem has <c>expectedVersion</c> and <c>actualVersion</c>.</summary>
    public const string PreconditionFailed = Base + "precondition-failed";

    /// <summary>413: the body exceeds the endpoint's limit.</summary>
    public const string PayloadTooLarge = Base + "payload-too-large";

    /// <summary>422: an event breaks a rule of the unit's lifecycle; <see cref="LedgerProblem.Code"/> says which.</summary>
    public const string RuleViolation = Base + "rule-violation";

    /// <summary>422: an event id is stored already for a different event.</summary>
    public const string EventIdConflict = Base + "event-id-conflict";

    /// <summary>422: the Idempotency-Key was used for a different request.</summary>
    public const string IdempotencyKeyReused = Base + "idempotency-key-reused";

    /// <summary>500: the ledger failed; quote the correlation id.</summary>
    public const string Internal = Base + "internal-error";

    /// <summary>503: the ledger cannot reach its database right now (retried by the client).</summary>
    public const string Unavailable = Base + "service-unavailable";
}
