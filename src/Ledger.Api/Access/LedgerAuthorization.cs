using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authorization;

namespace Ledger.Api.Access;

/// <summary>
/// The access an endpoint declares, kept as endpoint metadata so the endpoint table can be checked (see
/// <see cref="LedgerAuthorization.DescribeEndpoints"/>). <see cref="Role"/> null means any authenticated key, unless
/// <see cref="IsPublic"/>: no key at all (health, metrics, the API description).
/// </summary>
public sealed record LedgerAccess(LedgerRole? Role, bool IsPublic = false)
{
    /// <summary>Any valid key, whatever its role.</summary>
    public static LedgerAccess AnyRole { get; } = new((LedgerRole?)null);

    /// <summary>No key needed: operations endpoints and the API description, which reveal no ledger data.</summary>
    public static LedgerAccess Public { get; } = new(null, IsPublic: true);

    /// <summary>For people and tests: <c>public</c>, <c>any role</c> or the role's name.</summary>
    public override string ToString() => IsPublic ? "public" : Role?.ToText() ?? "any role";
}

/// <summary>One mapped endpoint and the access it declares.</summary>
/// <param name="Route">The route pattern.</param>
/// <param name="Methods">Its HTTP methods, comma-separated (empty for all).</param>
/// <param name="DisplayName">The endpoint's display name.</param>
/// <param name="Access">The declared role; null if the endpoint declares none.</param>
/// <param name="AllowsAnonymous">Whether it is explicitly open (the endpoints declared <see cref="LedgerAccess.Public"/>).</param>
public sealed record EndpointAccessEntry(string Route, string Methods, string? DisplayName, LedgerAccess? Access, bool AllowsAnonymous);

/// <summary>API-key authentication, one policy per role, and the convention endpoints use to state their role.</summary>
public static class LedgerAuthorization
{
    private const string PolicyPrefix = "ledger-role:";
    private const string AnyRolePolicy = "ledger-any-role";

    /// <summary>Registers the key store, the Bearer handler and the role policies. Endpoints without a role are closed.</summary>
    public static IServiceCollection AddLedgerAccess(this IServiceCollection services)
    {
        services.AddSingleton<ApiKeyStore>();
        services.AddHostedService<BootstrapAdminKey>();
        services.AddKeyRateLimits();
        services.AddAuthentication(ApiKeyAuthenticationHandler.SchemeName)
            .AddScheme<AuthenticationSchemeOptions, ApiKeyAuthenticationHandler>(ApiKeyAuthenticationHandler.SchemeName, null);
        services.AddAuthorizationBuilder()
            .AddPolicy(AnyRolePolicy, p => p.RequireAuthenticatedUser().RequireClaim(ApiKeyCaller.ClaimTypes.Role))
            // Declared per endpoint with AllowPublic, so an open endpoint is one that says so in the endpoint table.
            .AddPolicy(PolicyFor(LedgerRole.Line), RoleAtLeast(LedgerRole.Line))
            .AddPolicy(PolicyFor(LedgerRole.Reporting), RoleAtLeast(LedgerRole.Reporting))
            .AddPolicy(PolicyFor(LedgerRole.Auditor), RoleAtLeast(LedgerRole.Auditor))
            .AddPolicy(PolicyFor(LedgerRole.Admin), RoleAtLeast(LedgerRole.Admin))
            // An endpoint mapped without RequireRole or AllowAnonymous still needs a valid key: nothing is open by accident.
            .SetFallbackPolicy(new AuthorizationPolicyBuilder().RequireAuthenticatedUser().RequireClaim(ApiKeyCaller.ClaimTypes.Role).Build());
        return services;
    }

    /// <summary>Declares that the endpoint needs a key of <paramref name="role"/> (or one that implies it: admin, or auditor for reporting).</summary>
    public static TBuilder RequireRole<TBuilder>(this TBuilder builder, LedgerRole role)
        where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(new LedgerAccess(role)).RequireAuthorization(PolicyFor(role)).ProducesAccessProblems();

    /// <summary>Declares that any valid key may call the endpoint.</summary>
    public static TBuilder RequireAnyRole<TBuilder>(this TBuilder builder)
        where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(LedgerAccess.AnyRole).RequireAuthorization(AnyRolePolicy).ProducesAccessProblems();

    /// <summary>
    /// Declares that the endpoint needs no key: health, metrics and the API description. Only what reveals no ledger
    /// data belongs here; the endpoint table lists these as <c>public</c>.
    /// </summary>
    public static TBuilder AllowPublic<TBuilder>(this TBuilder builder)
        where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(LedgerAccess.Public).AllowAnonymous();

    /// <summary>Every mapped endpoint with the access it declares: the source of the role × endpoint matrix.</summary>
    public static IReadOnlyList<EndpointAccessEntry> DescribeEndpoints(this EndpointDataSource endpoints)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        return [.. endpoints.Endpoints.OfType<RouteEndpoint>()
            .Select(e => new EndpointAccessEntry(
                "/" + (e.RoutePattern.RawText ?? string.Empty).TrimStart('/'),
                string.Join(',', e.Metadata.GetMetadata<IHttpMethodMetadata>()?.HttpMethods ?? []),
                e.DisplayName,
                e.Metadata.GetMetadata<LedgerAccess>(),
                e.Metadata.GetMetadata<IAllowAnonymous>() is not null))
            .OrderBy(e => e.Route, StringComparer.Ordinal)
            .ThenBy(e => e.Methods, StringComparer.Ordinal)];
    }

    internal static string PolicyFor(LedgerRole role) => PolicyPrefix + role.ToText();

    private static Action<AuthorizationPolicyBuilder> RoleAtLeast(LedgerRole required) => policy => policy
        .RequireAuthenticatedUser()
        .RequireAssertion(context =>
            LedgerRoles.TryParse(context.User.FindFirst(ApiKeyCaller.ClaimTypes.Role)?.Value, out var held) && held.Satisfies(required));

    private static TBuilder ProducesAccessProblems<TBuilder>(this TBuilder builder)
        where TBuilder : IEndpointConventionBuilder
    {
        if (builder is RouteHandlerBuilder handler)
        {
            handler.ProducesProblem(StatusCodes.Status401Unauthorized).ProducesProblem(StatusCodes.Status403Forbidden);
        }

        return builder;
    }
}
