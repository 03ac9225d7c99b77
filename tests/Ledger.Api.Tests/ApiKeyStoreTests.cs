using Ledger.Api.Access;
using Ledger.EventStore;
using Ledger.EventStore.Schema;
using Ledger.Testing;
using Npgsql;

namespace Ledger.Api.Tests;

public sealed class ApiKeyStoreTests(DatabaseFixture database) : IClassFixture<DatabaseFixture>, IAsyncLifetime
{
    private NpgsqlDataSource dataSource = null!;
    private ApiKeyStore store = null!;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        dataSource = database.CreateDataSource();
        await new Migrator(dataSource).MigrateAsync([EventStoreSchema.Migrations, LedgerApiSchema.Migrations], Ct);
        store = new ApiKeyStore(dataSource, TimeProvider.System);
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    [Fact]
    public async Task A_created_key_authenticates_as_its_name_role_and_factory()
    {
        var created = await store.CreateAsync(Unique("line"), LedgerRole.Line, "lathrop", Ct);

        var caller = await store.AuthenticateAsync(created.Key, Ct);

        Assert.Equal(new ApiKeyCaller(created.Info.Id, created.Info.Name, LedgerRole.Line, "lathrop"), caller);
    }

    [Fact]
    public async Task Keys_are_stored_hashed_and_the_plain_secret_appears_nowhere_in_the_table()
    {
        var created = await store.CreateAsync(Unique("hashed"), LedgerRole.Admin, null, Ct);
        var secret = created.Key[37..];

        await using var command = dataSource.CreateCommand("select k::text, encode(k.secret_hash, 'hex'), encode(k.secret_hash, 'base64') from ledger.api_keys k where id = @id");
        command.Parameters.AddWithValue("id", created.Info.Id);
        await using var reader = await command.ExecuteReaderAsync(Ct);
        Assert.True(await reader.ReadAsync(Ct));
        var row = string.Join('|', reader.GetString(0), reader.GetString(1), reader.GetString(2));

        Assert.DoesNotContain(secret, row, StringComparison.Ordinal);
        Assert.DoesNotContain(secret.Replace('-', '+').Replace('_', '/'), row, StringComparison.Ordinal);
        Assert.True(ApiKeyText.TryParse(created.Key, out var key));
        Assert.Equal(Convert.ToHexStringLower(key.SecretHash()), reader.GetString(1));
    }

    [Fact]
    public async Task A_live_name_cannot_be_given_to_a_second_key()
    {
        var name = Unique("taken");
        await store.CreateAsync(name, LedgerRole.Reporting, null, Ct);

        var refusal = await Assert.ThrowsAsync<ApiKeyRejectedException>(() => store.CreateAsync(name, LedgerRole.Auditor, null, Ct));

        Assert.Contains(name, refusal.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Names_of_revoked_keys_can_be_reused()
    {
        var name = Unique("reused");
        var first = await store.CreateAsync(name, LedgerRole.Reporting, null, Ct);
        await store.RevokeAsync(name, Ct);

        var second = await store.CreateAsync(name, LedgerRole.Reporting, null, Ct);

        Assert.Null(await store.AuthenticateAsync(first.Key, Ct));
        Assert.Equal(name, (await store.AuthenticateAsync(second.Key, Ct))?.Name);
    }

    [Fact]
    public async Task A_key_is_revoked_by_id_or_by_name_and_revoking_it_again_finds_nothing()
    {
        var byId = await store.CreateAsync(Unique("by-id"), LedgerRole.Auditor, null, Ct);
        var byName = await store.CreateAsync(Unique("by-name"), LedgerRole.Auditor, null, Ct);

        var revokedById = await store.RevokeAsync(byId.Info.Id.ToString(), Ct);
        var revokedByName = await store.RevokeAsync(byName.Info.Name, Ct);

        Assert.Equal(byId.Info.Id, revokedById?.Id);
        Assert.NotNull(revokedById?.RevokedAt);
        Assert.Equal(byName.Info.Id, revokedByName?.Id);
        Assert.Null(await store.RevokeAsync(byId.Info.Id.ToString(), Ct));
        Assert.Null(await store.AuthenticateAsync(byId.Key, Ct));
        Assert.Null(await store.AuthenticateAsync(byName.Key, Ct));
    }

    [Fact]
    public async Task Revoked_keys_are_listed_only_when_asked_for()
    {
        var live = await store.CreateAsync(Unique("listed"), LedgerRole.Reporting, null, Ct);
        var revoked = await store.CreateAsync(Unique("unlisted"), LedgerRole.Reporting, null, Ct);
        await store.RevokeAsync(revoked.Info.Name, Ct);

        var liveOnly = await store.ListAsync(includeRevoked: false, Ct);
        var all = await store.ListAsync(includeRevoked: true, Ct);

        Assert.Contains(liveOnly, k => k.Id == live.Info.Id);
        Assert.DoesNotContain(liveOnly, k => k.Id == revoked.Info.Id);
        Assert.Contains(all, k => k.Id == revoked.Info.Id && k.RevokedAt is not null);
    }

    [Theory]
    [InlineData(LedgerRole.Line, null)]
    [InlineData(LedgerRole.Line, "Lathrop")]
    [InlineData(LedgerRole.Reporting, "lathrop")]
    [InlineData(LedgerRole.Admin, "lathrop")]
    public async Task Only_line_keys_have_a_factory_and_every_line_key_has_one(LedgerRole role, string? factoryId)
    {
        await Assert.ThrowsAsync<ApiKeyRejectedException>(() => store.CreateAsync(Unique("scoped"), role, factoryId, Ct));
    }

    [Fact]
    public async Task Nodes_bootstrapping_the_same_key_at_once_store_it_once()
    {
        await using var db = await database.CreateDatabaseAsync(Ct);
        await using (var migrating = db.CreateDataSource())
        {
            await new Migrator(migrating).MigrateAsync([EventStoreSchema.Migrations, LedgerApiSchema.Migrations], Ct);
        }

        var key = ApiKeyText.Generate().ToString();
        var nodes = Enumerable.Range(0, 8).Select(_ => new ApiKeyStore(db.CreateDataSource(), TimeProvider.System)).ToArray();

        var outcomes = await Task.WhenAll(nodes.Select(n => n.EnsureBootstrapAdminAsync(key, Ct)));

        Assert.Single(outcomes, o => o == BootstrapOutcome.Created);
        Assert.All(outcomes.Where(o => o != BootstrapOutcome.Created), o => Assert.Equal(BootstrapOutcome.AlreadyPresent, o));
        Assert.Single(await nodes[0].ListAsync(includeRevoked: true, Ct));
    }

    [Fact]
    public async Task A_different_configured_bootstrap_key_replaces_the_old_one_and_a_revoked_one_stays_revoked()
    {
        await using var db = await database.CreateDatabaseAsync(Ct);
        var node = db.CreateDataSource();
        await new Migrator(node).MigrateAsync([EventStoreSchema.Migrations, LedgerApiSchema.Migrations], Ct);
        var keys = new ApiKeyStore(node, TimeProvider.System);
        var old = ApiKeyText.Generate().ToString();
        var replacement = ApiKeyText.Generate().ToString();

        await keys.EnsureBootstrapAdminAsync(old, Ct);
        await keys.EnsureBootstrapAdminAsync(replacement, Ct);

        Assert.Null(await keys.AuthenticateAsync(old, Ct));
        Assert.Equal(ApiKeyStore.BootstrapAdminName, (await keys.AuthenticateAsync(replacement, Ct))?.Name);
        Assert.Equal(BootstrapOutcome.Revoked, await keys.EnsureBootstrapAdminAsync(old, Ct));
        Assert.Null(await keys.AuthenticateAsync(old, Ct));
    }

    private static string Unique(string prefix) => $"{prefix}-{Guid.NewGuid():N}";
}
