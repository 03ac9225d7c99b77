namespace Ledger.Api.ServiceDefaults;

/// <summary>
/// Stable <c>type</c> URIs of the ledger's RFC 9457 problems, one per kind of error. Clients switch on these, so a URI
/// never changes meaning once shipped.
/// </summary>
public static class ProblemTypes
{
    public const string Base = "https://ledger.example/problems/";

    public const string BadRequest = Base + "bad-request";
    public const string MalformedJson = Base + "malformed-json";
    public const string ValidationFailed = Base + "validation-failed";
    public const string PayloadTooLarge = Base + "payload-too-large";
    public const string Unauthorized = Base + "unauthorized";
    public const string Forbidden = Base + "forbidden";

    /// <summary>A line key acted for a factory other than its own (403).</summary>
    public const string WrongFactory = Base + "wrong-factory";

    public const string NotFound = Base + "not-found";
    public const string MethodNotAllowed = Base + "method-not-allowed";
    public const string Conflict = Base + "conflict";
    public const string PreconditionFailed = Base + "precondition-failed";
    public const string UnsupportedMediaType = Base + "unsupported-media-type";

    /// <summary>The API key sent more requests than its rate limit allows; retry after Retry-After (429).</summary>
    public const string TooManyRequests = Base + "too-many-requests";

    public const string Internal = Base + "internal-error";
    public const string Unavailable = Base + "service-unavailable";

    /// <summary>The unit has no history and the request needs one (404).</summary>
    public const string UnitNotFound = Base + "unit-not-found";

    /// <summary>Other writers kept changing the unit; retrying is safe (409).</summary>
    public const string VersionConflict = Base + "version-conflict";

    /// <summary>A request with the same Idempotency-Key is still being processed (409).</summary>
    public const string RequestInFlight = Base + "request-in-flight";

    /// <summary>An event breaks a rule of the unit's lifecycle; <c>code</c> says which (422).</summary>
    public const string RuleViolation = Base + "rule-violation";

    /// <summary>An event id is already stored for another event (422).</summary>
    public const string EventIdConflict = Base + "event-id-conflict";

    /// <summary>An Idempotency-Key was sent again with a different request (422).</summary>
    public const string IdempotencyKeyReused = Base + "idempotency-key-reused";

    /// <summary>Nothing has been sealed yet, so there is no digest (404).</summary>
    public const string NoDigestYet = Base + "no-digest-yet";

    /// <summary>The event exists but the sealer has not put it in a block yet; retry after Retry-After (409).</summary>
    public const string EventNotSealed = Base + "event-not-sealed";

    /// <summary>No event has that id (404).</summary>
    public const string EventNotFound = Base + "event-not-found";

    /// <summary>A verification is already running on this node; retry after Retry-After (429).</summary>
    public const string VerificationBusy = Base + "verification-busy";

    /// <summary>The type for a status code whose problem was written without a more specific one.</summary>
    public static string ForStatus(int status) => status switch
    {
        400 => BadRequest,
        401 => Unauthorized,
        403 => Forbidden,
        404 => NotFound,
        405 => MethodNotAllowed,
        409 => Conflict,
        412 => PreconditionFailed,
        413 => PayloadTooLarge,
        415 => UnsupportedMediaType,
        429 => TooManyRequests,
        503 => Unavailable,
        >= 500 => Internal,
        _ => Base + "http-" + status.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };
}
