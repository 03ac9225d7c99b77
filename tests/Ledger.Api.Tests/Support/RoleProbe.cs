using Ledger.Api.Access;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;

namespace Ledger.Api.Tests.Support;

/// <summary>
/// Test-only endpoints <c>GET /probe/{role}</c>, one per role, each declared with <see cref="LedgerAuthorization.RequireRole"/>:
/// until the write path and read models land, nothing else requires a particular role.
/// </summary>
internal sealed class RoleProbe : IStartupFilter
{
    public static void AddTo(IServiceCollection services) => services.AddSingleton<IStartupFilter, RoleProbe>();

    public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
    {
        app.Map("/probe", branch =>
        {
            branch.UseRouting();
            branch.UseAuthentication();
            branch.UseAuthorization();
            branch.UseEndpoints(endpoints =>
            {
                foreach (var role in LedgerRoles.All)
                {
                    endpoints.MapGet("/" + role.ToText(), () => "ok").RequireRole(role);
                }
            });
        });
        next(app);
    };
}
