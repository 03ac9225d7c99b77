using System.Net;
using System.Security.Cryptography;
using System.Text.Json;
using Ledger.Api.Access;
using Ledger.Api.ServiceDefaults;
using Ledger.Api.Tests.Support;
using Ledger.Api.Tests.WritePath;
using Ledger.EventStore;
using Ledger.Testing;
using Marten;
using Npgsql;

namespace Ledger.Api.Tests;

/// <summary>
/// The service connects as a role that may insert events but not UPDATE, DELETE or TRUNCATE them — refused by a missing
/// permission (42501), before the append-only trigger (P0001) is even reached — while migrations run as an owner role
/// (ConnectionStrings:LedgerMigrations; docs/operations.md, "Database roles"). Roles are server-wide, so each test makes
/// its own, with unique names, and drops them.
/// </summary>
public sealed class DatabaseRolesTests(DatabaseFixture database) : IClassFixture<DatabaseFixture>
{
    private const string InsufficientPrivilege = "42501";
    private const string AppendOnly = "P0001";
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task The_service_role_writes_events_but_may_not_update_delete_or_truncate_them()
    {
        await using var roles = await Roles.CreateAsync(database, memberOfService: true);
        await using var api = new LedgerApiFactory(roles.Service, settings: new Dictionary<string, string?>
        {
            [$"ConnectionStrings:{DatabaseRoles.MigrationsConnectionStringName}"] = roles.Owner,
        });
        using var line = api.CreateClient(await api.CreateKeyAsync(LedgerRole.Line, "lathrop"));
        var serial = LineEvents.NewSerial();
        using (var created = await line.SendAsync(LineEvents.Post($"/api/v1/units/{serial}/events", LineEvents.Built()), Ct))
        {
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        }

        await using var asService = NpgsqlDataSource.Create(roles.Service);
        // ledger.events is a view over Marten's mt_events (event-store migration 0006): refused on the view and on the table.
        foreach (var sql in new[] { "update ledger.events set data = '{}'", "delete from ledger.events",
                     "insert into ledger.migrations (module, version, name, checksum) values ('x', 1, 'x', 'x')",
                     "update ledger.mt_events set type = 'x'", "delete from ledger.mt_events", "truncate ledger.mt_events",
                     "delete from ledger.mt_streams", "truncate ledger.mt_streams", "update ledger.mt_streams set type = 'x'",
                     "alter table ledger.mt_events disable trigger mt_events_append_only" })
        {
            await using var command = asService.CreateCommand(sql);
            var refused = await Assert.ThrowsAsync<PostgresException>(() => command.ExecuteNonQueryAsync(Ct));
            Assert.True(refused.SqlState == InsufficientPrivilege, $"{sql}: {refused.SqlState} {refused.MessageText}");
        }

        // The owner has the permission; the trigger still refuses it.
        await using var asOwner = NpgsqlDataSource.Create(roles.Owner);
        await using (var update = asOwner.CreateCommand("update ledger.events set data = '{}'"))
        {
            Assert.Equal(AppendOnly, (await Assert.ThrowsAsync<PostgresException>(() => update.ExecuteNonQueryAsync(Ct))).SqlState);
        }

        // What Marten's append needs of the service role is granted: a new stream, then an append to it, which advances
        // the stream row's version under `select … for update` (UseExclusiveLockOnConcurrentAppends).
        var probe = serial + "-PROBE";
        await using (var marten = DocumentStore.For(options =>
                         MartenSetup.Configure(options, asService, new Dictionary<Type, string> { [typeof(Probed)] = "probed.v1" })))
        {
            foreach (var version in new long[] { 1, 2 })
            {
                await using var session = marten.LightweightSession();
                session.Events.Append(probe, version, new Probed(version));
                await session.SaveChangesAsync(Ct);
            }

            await using var query = marten.QuerySession();
            Assert.Equal(2, (await query.Events.FetchStreamStateAsync(probe, Ct))!.Version);
        }

        // The owner is refused by the trigger on the table too.
        await using (var update = asOwner.CreateCommand("update ledger.mt_events set type = 'x'"))
        {
            Assert.Equal(AppendOnly, (await Assert.ThrowsAsync<PostgresException>(() => update.ExecuteNonQueryAsync(Ct))).SqlState);
        }

        await using var count = asService.CreateCommand("select count(*) from ledger.events where stream_id = @s and type = 'unit-built.v1'");
        count.Parameters.AddWithValue("s", serial);
        Assert.Equal(1L, await count.ExecuteScalarAsync(Ct));
    }

    [Fact]
    public async Task The_service_role_owns_the_read_models_so_it_can_rebuild_them()
    {
        await using var roles = await Roles.CreateAsync(database, memberOfService: true);
        await using var api = new LedgerApiFactory(roles.Service, settings: new Dictionary<string, string?>
        {
            [$"ConnectionStrings:{DatabaseRoles.MigrationsConnectionStringName}"] = roles.Owner,
        });
        using var admin = api.CreateClient(await api.CreateKeyAsync(LedgerRole.Admin));

        foreach (var name in new[] { "unit-status", "factory-throughput" })
        {
            using var response = await admin.PostAsync(new Uri($"/api/v1/projections/{name}/rebuild", UriKind.Relative), null, Ct);
            Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        }

        // Both rebuilds replace their tables (create, rename, drop), which only the tables' owner may do.
        var deadline = DateTime.UtcNow.AddSeconds(60);
        List<JsonElement> projections;
        do
        {
            await Task.Delay(100, Ct);
            using var response = await admin.GetAsync(new Uri("/api/v1/projections", UriKind.Relative), Ct);
            projections = [.. (await response.BodyAsync()).EnumerateArray()];
        }
        while (!projections.Where(p => p.GetProperty("name").GetString() is "unit-status" or "factory-throughput")
                   .All(p => p.GetProperty("lastRebuildFinishedAt").ValueKind == JsonValueKind.String || p.GetProperty("failure").ValueKind != JsonValueKind.Null)
               && DateTime.UtcNow < deadline);

        Assert.All(projections, p => Assert.Equal(JsonValueKind.Null, p.GetProperty("failure").ValueKind));
        Assert.All(projections.Where(p => p.GetProperty("name").GetString() is "unit-status" or "factory-throughput"),
            p => Assert.Equal(JsonValueKind.String, p.GetProperty("lastRebuildFinishedAt").ValueKind));
        await using var asOwner = NpgsqlDataSource.Create(roles.Owner);
        await using var owners = asOwner.CreateCommand(
            "select string_agg(distinct pg_get_userbyid(relowner), ',') from pg_class where oid = any(@tables::regclass[])");
        owners.Parameters.AddWithValue("tables", DatabaseRoles.ReadModelTables.ToArray());
        Assert.Equal(roles.ServiceRole, await owners.ExecuteScalarAsync(Ct));
    }

    [Fact]
    public async Task A_migration_role_that_is_not_a_member_of_the_service_role_stops_the_start_with_the_fix_in_the_hint()
    {
        await using var roles = await Roles.CreateAsync(database, memberOfService: false);
        await using var api = new LedgerApiFactory(roles.Service, settings: new Dictionary<string, string?>
        {
            [$"ConnectionStrings:{DatabaseRoles.MigrationsConnectionStringName}"] = roles.Owner,
        });

        var failure = Assert.ThrowsAny<Exception>(() => api.CreateClient());
        var refused = Assert.IsType<PostgresException>(Causes(failure).OfType<PostgresException>().FirstOrDefault(), exactMatch: true);
        Assert.Equal(InsufficientPrivilege, refused.SqlState);
        Assert.Contains($"GRANT {roles.ServiceRole} TO {roles.OwnerRole}", refused.Hint, StringComparison.Ordinal);
    }

    private sealed record Probed(long Version);

    private static IEnumerable<Exception> Causes(Exception? e)
    {
        for (; e is not null; e = e.InnerException)
        {
            yield return e;
            if (e is AggregateException many) foreach (var inner in many.InnerExceptions.SelectMany(Causes)) yield return inner;
        }
    }

    /// <summary>A migration role owning a fresh database, and a service role; both dropped afterwards.</summary>
    private sealed class Roles : IAsyncDisposable
    {
        private readonly TestDatabase _database;
        private readonly string _superuser;

        private Roles(TestDatabase database, string superuser, string suffix, string password)
        {
            _database = database;
            _superuser = superuser;
            OwnerRole = "ledger_owner_" + suffix;
            ServiceRole = "ledger_app_" + suffix;
            Owner = As(database.ConnectionString, OwnerRole, password);
            Service = As(database.ConnectionString, ServiceRole, password);
        }

        public string OwnerRole { get; }
        public string ServiceRole { get; }
        public string Owner { get; }
        public string Service { get; }

        public static async Task<Roles> CreateAsync(DatabaseFixture fixture, bool memberOfService)
        {
            var database = await fixture.CreateDatabaseAsync(Ct);
            var suffix = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(5));
            var password = "pw" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(12));
            var roles = new Roles(database, fixture.Server.SuperuserConnectionString, suffix, password);
            // Identifiers and passwords cannot be parameters; all of these are made here of [a-z0-9_].
            await roles.ExecuteAsync(
                $"create role {roles.OwnerRole} login password '{password}'",
                $"create role {roles.ServiceRole} login password '{password}'",
                $"alter database \"{database.Name}\" owner to {roles.OwnerRole}");
            if (memberOfService) await roles.ExecuteAsync($"grant {roles.ServiceRole} to {roles.OwnerRole}");
            return roles;
        }

        public async ValueTask DisposeAsync()
        {
            NpgsqlConnection.ClearAllPools();
            await _database.DisposeAsync();
            await ExecuteAsync($"drop role if exists {ServiceRole}", $"drop role if exists {OwnerRole}");
        }

        private async Task ExecuteAsync(params string[] statements)
        {
            await using var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(_superuser) { Pooling = false }.ConnectionString);
            await connection.OpenAsync(CancellationToken.None);
            foreach (var sql in statements)
            {
                await using var command = new NpgsqlCommand(sql, connection);
                await command.ExecuteNonQueryAsync(CancellationToken.None);
            }
        }

        private static string As(string connectionString, string role, string password) =>
            new NpgsqlConnectionStringBuilder(connectionString) { Username = role, Password = password }.ConnectionString;
    }
}
