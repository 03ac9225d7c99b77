namespace Ledger.Api.ServiceDefaults;

/// <summary>
/// The request's correlation id: the caller's <c>X-Correlation-Id</c> when it is sensible, else a new one. Echoed on every
/// response and recorded in the metadata of the events the request writes.
/// </summary>
public static class CorrelationId
{
    public const string HeaderName = "X-Correlation-Id";
    private const int MaxLength = 128;
    private static readonly object ItemKey = new();

    /// <summary>The correlation id of the request (set by the middleware <see cref="UseCorrelationId"/> installs).</summary>
    public static string GetCorrelationId(this HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return Find(context) ?? throw new InvalidOperationException("The correlation id middleware has not run.");
    }

    internal static string? Find(HttpContext context) => context.Items[ItemKey] as string;

    internal static IApplicationBuilder UseCorrelationId(this IApplicationBuilder app)
    {
        var logger = app.ApplicationServices.GetRequiredService<ILoggerFactory>().CreateLogger("Ledger.Api.Requests");
        return app.Use(async (context, next) =>
        {
            string? given = context.Request.Headers[HeaderName];
            var id = IsAcceptable(given) ? given! : Guid.CreateVersion7().ToString();
            context.Items[ItemKey] = id;
            // Set when the response starts, not now: the exception handler clears headers before writing its problem.
            context.Response.OnStarting(() =>
            {
                context.Response.Headers[HeaderName] = id;
                return Task.CompletedTask;
            });

            // Every line logged while the request is handled carries its correlation id (docs/operations.md#logs).
            using (logger.BeginScope(new Logging.CorrelationScope(id)))
            {
                await next(context);
            }
        });
    }

    // Whatever a client sends ends up in logs and event metadata, so only short, printable, header-safe ids are kept.
    private static bool IsAcceptable(string? id) =>
        !string.IsNullOrEmpty(id) && id.Length <= MaxLength
        && id.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' or ':' or '/');
}
