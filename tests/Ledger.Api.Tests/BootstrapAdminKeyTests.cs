using System.Net.Http.Json;
using Ledger.Api.Access;
using Ledger.Api.Tests.Support;
using Ledger.Testing;

namespace Ledger.Api.Tests;

public sealed class BootstrapAdminKeyTests(DatabaseFixture database) : IClassFixture<DatabaseFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task The_bootstrap_admin_key_works_and_is_idempotent_across_two_starts()
    {
        await using var db = await database.CreateDatabaseAsync(Ct);
        var key = ApiKeyText.Generate().ToString();

        for (var start = 0; start < 2; start++)
        {
            await using var api = new LedgerApiFactory(db.ConnectionString, bootstrapAdminKey: key);
            using var client = api.CreateClient(key);

            var me = await client.GetFromJsonAsync<WhoAmIResponse>(new Uri("/api/v1/whoami", UriKind.Relative), Ct);

            Assert.Equal(("bootstrap-admin", "admin"), (me?.Name, me?.Role));
            var keys = await api.Keys.ListAsync(includeRevoked: true, Ct);
            Assert.Single(keys, k => k.Name == ApiKeyStore.BootstrapAdminName);
        }
    }

    [Fact]
    public async Task A_bootstrap_key_not_of_the_key_format_stops_start_up()
    {
        await using var db = await database.CreateDatabaseAsync(Ct);
        await using var api = new LedgerApiFactory(db.ConnectionString, bootstrapAdminKey: "correct horse battery staple");

        var refusal = Assert.Throws<ApiKeyRejectedException>(() => api.CreateClient());

        Assert.Contains("ledger keys generate", refusal.Message, StringComparison.Ordinal);
    }
}
