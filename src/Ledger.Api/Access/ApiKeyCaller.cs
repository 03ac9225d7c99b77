using System.Globalization;
using System.Security.Claims;
using Ledger.EventStore;

namespace Ledger.Api.Access;

/// <summary>Who is calling: the API key that authenticated the request.</summary>
/// <param name="KeyId">The key's id.</param>
/// <param name="Name">The key's name (recorded as the actor of the events it posts).</param>
/// <param name="Role">What it may do.</param>
/// <param name="FactoryId">The one factory a line key acts for; null for other roles.</param>
public sealed record ApiKeyCaller(Guid KeyId, string Name, LedgerRole Role, string? FactoryId)
{
    /// <summary>Claim types of the principal an API key produces.</summary>
    public static class ClaimTypes
    {
        public const string KeyId = "ledger:key_id";
        public const string Name = "ledger:key_name";
        public const string Role = "ledger:role";
        public const string Factory = "ledger:factory";
    }

    /// <summary>Whether this caller may act for <paramref name="factoryId"/>: any non-line key may, a line key only for its own.</summary>
    public bool MayActFor(string factoryId) =>
        Role != LedgerRole.Line || string.Equals(FactoryId, factoryId, StringComparison.Ordinal);

    /// <summary>Event metadata naming this key as the actor, with the request's correlation id.</summary>
    public EventMetadata ToEventMetadata(string? correlationId) => new()
    {
        Actor = Name,
        ActorId = KeyId.ToString(),
        CorrelationId = correlationId,
    };

    /// <summary>The claims the authentication handler issues.</summary>
    public ClaimsPrincipal ToPrincipal(string authenticationType)
    {
        List<Claim> claims =
        [
            new(ClaimTypes.KeyId, KeyId.ToString()),
            new(ClaimTypes.Name, Name),
            new(ClaimTypes.Role, Role.ToText()),
        ];
        if (FactoryId is not null) claims.Add(new Claim(ClaimTypes.Factory, FactoryId));
        return new ClaimsPrincipal(new ClaimsIdentity(claims, authenticationType, ClaimTypes.Name, ClaimTypes.Role));
    }

    /// <summary>The caller of an authenticated principal, or null if it did not come from an API key.</summary>
    public static ApiKeyCaller? FromPrincipal(ClaimsPrincipal principal)
    {
        ArgumentNullException.ThrowIfNull(principal);
        if (!Guid.TryParse(principal.FindFirstValue(ClaimTypes.KeyId), CultureInfo.InvariantCulture, out var id)
            || principal.FindFirstValue(ClaimTypes.Name) is not { } name
            || !LedgerRoles.TryParse(principal.FindFirstValue(ClaimTypes.Role), out var role))
        {
            return null;
        }

        return new ApiKeyCaller(id, name, role, principal.FindFirstValue(ClaimTypes.Factory));
    }
}
