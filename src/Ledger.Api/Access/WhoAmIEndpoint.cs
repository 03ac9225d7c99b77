using System.Security.Claims;
using Ledger.Api.ServiceDefaults.OpenApi;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Ledger.Api.Access;

/// <summary>What <c>GET /api/v1/whoami</c> answers: the key the request was authenticated with.</summary>
public sealed record WhoAmIResponse(Guid KeyId, string Name, string Role, string? FactoryId);

/// <summary><c>GET /api/v1/whoami</c>: lets a client check its key and see what it may do.</summary>
public static class WhoAmIEndpoint
{
    public static RouteGroupBuilder MapWhoAmI(this RouteGroupBuilder api)
    {
        ArgumentNullException.ThrowIfNull(api);
        api.MapGet("/whoami", Handle)
            .WithName("WhoAmI")
            .WithSummary("The API key making the request: its id, name, role and (for line keys) factory.")
            .WithDescription("Lets a client check its key, for example after a rotation (docs/operations.md, \"Key rotation\").")
            .WithResponseExample(StatusCodes.Status200OK,
                """{"keyId": "0197a3c4-5e2b-7c8d-9e0f-1a2b3c4d5e6f", "name": "lathrop-line-3", "role": "line", "factoryId": "lathrop"}""")
            .RequireAnyRole();
        return api;
    }

    private static Ok<WhoAmIResponse> Handle(ClaimsPrincipal user)
    {
        // The endpoint requires an API key, so the caller is always there.
        var caller = ApiKeyCaller.FromPrincipal(user) ?? throw new InvalidOperationException("whoami reached without an API key.");
        return TypedResults.Ok(new WhoAmIResponse(caller.KeyId, caller.Name, caller.Role.ToText(), caller.FactoryId));
    }
}
