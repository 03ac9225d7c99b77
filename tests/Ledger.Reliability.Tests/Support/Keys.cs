using Ledger.Api.Access;
using Npgsql;

namespace Ledger.Reliability.Tests.Support;

/// <summary>API keys for a test, created in the database the services share (as `ledger keys create` does).</summary>
internal static class Keys
{
    public static async Task<string> CreateAsync(NpgsqlDataSource dataSource, LedgerRole role, string? factory = null)
    {
        var store = new ApiKeyStore(dataSource, TimeProvider.System);
        var created = await store.CreateAsync($"{role.ToText()}-{factory ?? "all"}-{Guid.NewGuid():N}", role, factory, TestContext.Current.CancellationToken);
        return created.Key;
    }

    /// <summary>A line key for each producing factory.</summary>
    public static async Task<Dictionary<string, string>> LineKeysAsync(NpgsqlDataSource dataSource) => new()
    {
        ["lathrop"] = await CreateAsync(dataSource, LedgerRole.Line, "lathrop"),
        ["shanghai"] = await CreateAsync(dataSource, LedgerRole.Line, "shanghai"),
    };
}
