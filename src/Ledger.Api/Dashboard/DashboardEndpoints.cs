using Ledger.Api.Access;
using Ledger.Api.Http;
using Ledger.Api.ServiceDefaults;
using Microsoft.Net.Http.Headers;

namespace Ledger.Api.Dashboard;

/// <summary>
/// <c>/dashboard</c>: the page and its scripts. They are public because they hold no data: the page asks for an API key
/// and reads the reporting endpoints with it, so what anyone sees is what their key may read.
/// </summary>
public static class DashboardEndpoints
{
    /// <summary>
    /// Scripts and styles from this origin only, requests to this origin only (the API), nothing framed. Inline styles are
    /// allowed because ECharts positions its tooltips and labels with them.
    /// </summary>
    private const string ContentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; "
        + "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

    public static IEndpointRouteBuilder MapDashboard(this IEndpointRouteBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.MapGet("/dashboard", Page)
            .WithName("Dashboard")
            .WithSummary("The dashboard page: factory ramp, milestones, deployments, units in transit and projection health.")
            .ExcludeFromDescription()
            .AllowPublic();
        app.MapGet("/dashboard/{file}", File)
            .WithName("DashboardFile")
            .WithSummary("A script, style sheet or notice of the dashboard page.")
            .ExcludeFromDescription()
            .AllowPublic();
        return app;
    }

    private static IResult Page(HttpContext context)
    {
        // The page's scripts are addressed relative to /dashboard; from /dashboard/ they would resolve one folder too deep.
        if (context.Request.Path.Value?.EndsWith('/') == true)
        {
            return TypedResults.Redirect($"{context.Request.PathBase}/dashboard{context.Request.QueryString}", permanent: true);
        }

        return Serve(context, DashboardAssets.Page);
    }

    private static IResult File(string file, HttpContext context) => Serve(context, file);

    private static IResult Serve(HttpContext context, string name)
    {
        if (!DashboardAssets.Embedded.TryGet(name, out var asset))
        {
            return LedgerResponse.Problem(context, StatusCodes.Status404NotFound, ProblemTypes.NotFound, "No such file.",
                $"The dashboard has no file '{name}'; the page is at /dashboard.");
        }

        var headers = context.Response.Headers;
        headers.ContentSecurityPolicy = ContentSecurityPolicy;
        headers.XContentTypeOptions = "nosniff";
        headers["Referrer-Policy"] = "no-referrer";
        // Revalidated on every load (the names carry no hash), answered 304 while unchanged.
        headers.CacheControl = "no-cache";
        headers.Vary = HeaderNames.AcceptEncoding;

        if (asset.Gzipped is { } gzipped && AcceptsGzip(context.Request))
        {
            headers.ContentEncoding = "gzip";
            return TypedResults.Bytes(gzipped, asset.ContentType, entityTag: asset.GzippedETag);
        }

        return TypedResults.Bytes(asset.Content, asset.ContentType, entityTag: asset.ETag);
    }

    private static bool AcceptsGzip(HttpRequest request) =>
        request.GetTypedHeaders().AcceptEncoding.Any(e =>
            (e.Value.Equals("gzip", StringComparison.OrdinalIgnoreCase) || e.Value.Equals("*", StringComparison.Ordinal))
            && e.Quality is not 0);
}
