namespace Ledger.Api.ServiceDefaults.OpenApi;

/// <summary>
/// An example RFC 9457 body for each status the ledger answers with a problem, shown in the OpenAPI document wherever
/// the endpoint gave none of its own. The texts are the ledger's (docs/api.md, "Error catalogue").
/// </summary>
internal static class ProblemExamples
{
    private const string CorrelationId = "0197a3c4-5e2b-7c8d-9e0f-1a2b3c4d5e6f";

    public static string? For(int status) => status switch
    {
        400 => $$"""
            {"type": "{{ProblemTypes.ValidationFailed}}", "title": "The request is not valid.", "status": 400,
             "detail": "Fix the fields named in errors and send again.",
             "errors": {"data.nameplateKwh": ["Must be between 1 and 100000."]}, "correlationId": "{{CorrelationId}}"}
            """,
        401 => $$"""
            {"type": "{{ProblemTypes.Unauthorized}}", "title": "An API key is required.", "status": 401,
             "detail": "The API key is malformed, unknown or revoked.", "correlationId": "{{CorrelationId}}"}
            """,
        403 => $$"""
            {"type": "{{ProblemTypes.Forbidden}}", "title": "The API key's role does not allow this.", "status": 403,
             "detail": "The key 'grafana' has role 'reporting'.", "correlationId": "{{CorrelationId}}"}
            """,
        404 => $$"""
            {"type": "{{ProblemTypes.NotFound}}", "title": "Not found.", "status": 404,
             "detail": "There is no such resource; the detail names what was looked for.", "correlationId": "{{CorrelationId}}"}
            """,
        409 => $$"""
            {"type": "{{ProblemTypes.VersionConflict}}", "title": "The unit kept changing while this request was decided.", "status": 409,
             "detail": "Other writers changed the unit(s) 4 times in a row; send the request again.",
             "correlationId": "{{CorrelationId}}"}
            """,
        412 => $$"""
            {"type": "{{ProblemTypes.PreconditionFailed}}", "title": "The unit is not at the version given in If-Match.", "status": 412,
             "detail": "Unit SHA-2025-000998 is at version 3, not 2. Read it again, decide again, and send the new version.",
             "serial": "SHA-2025-000998", "expectedVersion": 2, "actualVersion": 3,
             "correlationId": "{{CorrelationId}}"}
            """,
        413 => $$"""
            {"type": "{{ProblemTypes.PayloadTooLarge}}", "title": "The body is too large.", "status": 413,
             "detail": "Bodies of this endpoint are limited to 1048576 bytes; split the events into several requests.", "correlationId": "{{CorrelationId}}"}
            """,
        415 => $$"""
            {"type": "{{ProblemTypes.UnsupportedMediaType}}", "title": "The body must be JSON.", "status": 415,
             "detail": "Send Content-Type: application/json (got 'text/plain').", "correlationId": "{{CorrelationId}}"}
            """,
        422 => $$"""
            {"type": "{{ProblemTypes.RuleViolation}}", "title": "The event breaks a rule of the unit's lifecycle.", "status": 422,
             "detail": "The unit has not been tested; only a unit whose latest test passed can ship.", "code": "test-not-passed", "index": 0,
             "serial": "SHA-2025-000998", "eventType": "UnitShipped", "correlationId": "{{CorrelationId}}"}
            """,
        500 => $$"""
            {"type": "{{ProblemTypes.Internal}}", "title": "An error occurred while processing your request.", "status": 500,
             "detail": "The ledger could not complete the request; quote the correlation id when reporting it.",
             "correlationId": "{{CorrelationId}}"}
            """,
        503 => $$"""
            {"type": "{{ProblemTypes.Unavailable}}", "title": "The ledger's database is unavailable.", "status": 503,
             "detail": "Retry after 5 seconds with the same Idempotency-Key or event ids; a retry is never recorded twice.",
             "correlationId": "{{CorrelationId}}"}
            """,
        _ => null,
    };
}
