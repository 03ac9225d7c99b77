using System.Net.Sockets;
using Microsoft.AspNetCore.Diagnostics;
using Npgsql;

namespace Ledger.Api.ServiceDefaults;

/// <summary>
/// While PostgreSQL is unreachable (restarting, failing over, out of connections) the ledger answers 503 with
/// Retry-After rather than 500: the client should retry, with the same Idempotency-Key or event ids, and will not be
/// recorded twice.
/// </summary>
internal sealed class DatabaseUnavailable(IProblemDetailsService problems, ILogger<DatabaseUnavailable> logger) : IExceptionHandler
{
    public const string RetryAfterSeconds = "5";

    public async ValueTask<bool> TryHandleAsync(HttpContext httpContext, Exception exception, CancellationToken cancellationToken)
    {
        if (!IsUnavailable(exception)) return false;
        logger.LogWarning(exception, "The database is unavailable; answering 503");
        httpContext.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
        httpContext.Response.Headers.RetryAfter = RetryAfterSeconds;
        return await problems.TryWriteAsync(new ProblemDetailsContext
        {
            HttpContext = httpContext,
            Exception = exception,
            ProblemDetails =
            {
                Status = StatusCodes.Status503ServiceUnavailable,
                Type = ProblemTypes.Unavailable,
                Title = "The ledger's database is unavailable.",
                Detail = $"Retry after {RetryAfterSeconds} seconds with the same Idempotency-Key or event ids; a retry is never recorded twice.",
            },
        });
    }

    public static bool IsUnavailable(Exception exception) => exception switch
    {
        PostgresException pg => pg.SqlState.StartsWith("08", StringComparison.Ordinal)      // connection exceptions
                                || pg.SqlState.StartsWith("53", StringComparison.Ordinal)   // insufficient resources
                                || pg.SqlState is "57P01" or "57P02" or "57P03"            // shutting down, starting up
                                // The server ended the session after it idled in a transaction past the timeout (this
                                // node was frozen or starved: issue 13): the transaction was rolled back, a retry is safe.
                                || pg.SqlState is "25P03",
        NpgsqlException npgsql => npgsql.IsTransient || npgsql.InnerException is SocketException or TimeoutException or IOException,
        TimeoutException or SocketException => true,
        _ => exception.InnerException is { } inner && IsUnavailable(inner),
    };
}
