using System.Globalization;
using System.Threading.RateLimiting;
using Ledger.Api.ServiceDefaults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.Extensions.Options;

namespace Ledger.Api.Access;

/// <summary>
/// How many requests one API key may make on one node: a token bucket of <see cref="Burst"/> requests, refilled at
/// <see cref="PermitsPerSecond"/>. Configured under <c>Ledger:RateLimiting</c> (docs/operations.md, "Rate limiting").
/// </summary>
public sealed class KeyRateLimitOptions
{
    public const string Section = "Ledger:RateLimiting";

    /// <summary>Requests a key may make per second, sustained; 0 turns rate limiting off.</summary>
    public int PermitsPerSecond { get; set; } = 500;

    /// <summary>Requests a key may make at once after being idle (the bucket's size); at least <see cref="PermitsPerSecond"/>.</summary>
    public int Burst { get; set; } = 1_000;
}

/// <summary>
/// Per-key rate limiting: one busy or runaway client (a line system retrying in a tight loop, a dashboard refreshing far
/// too often) must not take the ledger from the others. Requests are counted per API key id after authentication;
/// requests without a valid key are not counted here (they are refused before they reach any endpoint). Over the limit
/// the answer is 429 problem+json with Retry-After. The count is per node, in memory.
/// </summary>
public static class KeyRateLimits
{
    public static IServiceCollection AddKeyRateLimits(this IServiceCollection services)
    {
        services.AddOptions<KeyRateLimitOptions>().BindConfiguration(KeyRateLimitOptions.Section).Validate(
            o => o.PermitsPerSecond >= 0 && (o.PermitsPerSecond == 0 || o.Burst >= o.PermitsPerSecond),
            $"{KeyRateLimitOptions.Section}: PermitsPerSecond must be 0 (off) or more, and Burst at least PermitsPerSecond.")
            .ValidateOnStart();
        services.AddRateLimiter(_ => { });
        // Configured through options so that settings given after the builder was made (tests, the CLI) are seen.
        services.AddOptions<RateLimiterOptions>().Configure<IOptions<KeyRateLimitOptions>>((options, configured) =>
        {
            var limits = configured.Value;
            options.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
            options.OnRejected = WriteRejectionAsync;
            if (limits.PermitsPerSecond == 0) return;
            options.GlobalLimiter = PartitionedRateLimiter.Create<HttpContext, Guid>(context =>
                ApiKeyCaller.FromPrincipal(context.User) is { } caller
                    ? RateLimitPartition.GetTokenBucketLimiter(caller.KeyId, _ => new TokenBucketRateLimiterOptions
                    {
                        TokenLimit = limits.Burst,
                        TokensPerPeriod = limits.PermitsPerSecond,
                        ReplenishmentPeriod = TimeSpan.FromSeconds(1),
                        QueueLimit = 0,
                        AutoReplenishment = true,
                    })
                    : RateLimitPartition.GetNoLimiter(Guid.Empty));
        });
        return services;
    }

    private static async ValueTask WriteRejectionAsync(OnRejectedContext rejected, CancellationToken cancellationToken)
    {
        var context = rejected.HttpContext;
        var retryAfter = rejected.Lease.TryGetMetadata(MetadataName.RetryAfter, out var wait) ? wait : TimeSpan.FromSeconds(1);
        var seconds = Math.Max(1, (int)Math.Ceiling(retryAfter.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
        context.Response.StatusCode = StatusCodes.Status429TooManyRequests;
        context.Response.Headers.RetryAfter = seconds;
        var caller = ApiKeyCaller.FromPrincipal(context.User);
        var problem = new ProblemDetails
        {
            Status = StatusCodes.Status429TooManyRequests,
            Type = ProblemTypes.TooManyRequests,
            Title = "Too many requests for this API key.",
            Detail = $"The key '{caller?.Name}' is over its rate limit; retry after {seconds} second(s) (Retry-After).",
        };
        var problems = context.RequestServices.GetRequiredService<IProblemDetailsService>();
        if (!await problems.TryWriteAsync(new ProblemDetailsContext { HttpContext = context, ProblemDetails = problem }))
        {
            await context.Response.WriteAsJsonAsync(problem, options: null, contentType: "application/problem+json", cancellationToken);
        }
    }
}
