using System.Net.Http.Headers;
using Ledger.Api.Access;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Ledger.Api.Tests.Support;

/// <summary>The API over real HTTP (in memory) against a test database; one instance is one node.</summary>
/// <param name="connectionString">The service role's database (ConnectionStrings:Ledger).</param>
/// <param name="bootstrapAdminKey">Ledger:BootstrapAdminKey, if any.</param>
/// <param name="withRoleProbe">Maps the test-only <see cref="RoleProbe"/> endpoints.</param>
/// <param name="settings">Further configuration (e.g. <c>Ledger:RateLimiting:Burst</c>, <c>ConnectionStrings:LedgerMigrations</c>).</param>
public sealed class LedgerApiFactory(
    string connectionString, string? bootstrapAdminKey = null, bool withRoleProbe = false, IReadOnlyDictionary<string, string?>? settings = null)
    : WebApplicationFactory<Program>
{
    // Program ends in RunJasperFxCommands, which under a test host would otherwise hand back without starting it
    // (CRITTER-STACK.md: every route 404s).
    static LedgerApiFactory() => JasperFx.CommandLine.JasperFxEnvironment.AutoStartHost = true;

    /// <summary>The node's key store, for creating keys of any role in a test.</summary>
    public ApiKeyStore Keys => Services.GetRequiredService<ApiKeyStore>();

    /// <summary>Creates a key of <paramref name="role"/> and returns its text (line keys act for <paramref name="factoryId"/>).</summary>
    public async Task<string> CreateKeyAsync(LedgerRole role, string? factoryId = null, string? name = null)
    {
        factoryId ??= role == LedgerRole.Line ? "lathrop" : null;
        var created = await Keys.CreateAsync(name ?? $"{role.ToText()}-{Guid.NewGuid():N}", role, factoryId, TestContext.Current.CancellationToken);
        return created.Key;
    }

    /// <summary>A client that sends <paramref name="key"/> as its Bearer token.</summary>
    public HttpClient CreateClient(string key)
    {
        var client = CreateClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        return client;
    }

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        builder.UseSetting("ConnectionStrings:Ledger", connectionString);
        if (bootstrapAdminKey is not null) builder.UseSetting("Ledger:BootstrapAdminKey", bootstrapAdminKey);
        if (withRoleProbe) builder.ConfigureServices(RoleProbe.AddTo);
        foreach (var (key, value) in settings ?? new Dictionary<string, string?>()) builder.UseSetting(key, value);
    }
}
