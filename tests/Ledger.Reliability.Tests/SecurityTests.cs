using System.Collections.Concurrent;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Ledger.Api.Access;
using Ledger.LocalPostgres;
using Ledger.Reliability.Tests.Support;
using Npgsql;

namespace Ledger.Reliability.Tests;

/// <summary>
/// Security properties of the deployed binaries: per-key rate limits and body limits over real Kestrel, the service's
/// database role, the roles `ledger run` makes, revocation through `ledger keys` seen at once by every node, and no key
/// or password in the service's log. The role × endpoint matrix and line keys' confinement are specified against the
/// endpoint table in tests/Ledger.Api.Tests/AccessMatrixTests; injection in every field is part of the fuzzer.
/// </summary>
public sealed class SecurityTests
{
    private const string InsufficientPrivilege = "42501";
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_key_over_its_rate_limit_gets_429_problems_with_retry_after_while_other_keys_are_served()
    {
        var summary = new RunSummary("security-rate-limit");
        await using var cluster = await ReliabilityCluster.StartAsync(Ct);
        await using var node = await LedgerService.StartAsync(cluster, "node-a", LedgerService.NewAdminKey(), summary.Test, new Dictionary<string, string?>
        {
            ["Ledger__RateLimiting__PermitsPerSecond"] = "2",
            ["Ledger__RateLimiting__Burst"] = "10",
        }, Ct);
        using var busy = node.CreateClient(await Keys.CreateAsync(cluster.Superuser, LedgerRole.Reporting));
        using var calm = node.CreateClient(await Keys.CreateAsync(cluster.Superuser, LedgerRole.Reporting));

        var answers = new ConcurrentBag<(HttpStatusCode Status, string? RetryAfter, string? Type)>();
        // Many at once, so that even a slow machine cannot spread them over enough seconds to refill the bucket.
        await Parallel.ForEachAsync(Enumerable.Range(0, 100), new ParallelOptions { MaxDegreeOfParallelism = 32, CancellationToken = Ct }, async (_, ct) =>
        {
            using var response = await busy.GetAsync(new Uri("/api/v1/units?limit=1", UriKind.Relative), ct);
            answers.Add((response.StatusCode, response.Headers.RetryAfter?.ToString(), Ingest.ProblemType(await response.Content.ReadAsStringAsync(ct))));
        });
        using var other = await calm.GetAsync(new Uri("/api/v1/units?limit=1", UriKind.Relative), Ct);

        var limited = answers.Where(a => a.Status == HttpStatusCode.TooManyRequests).ToList();
        summary.Add("requests by one key (32 at a time; 10 at once, then 2 a second)", answers.Count);
        summary.Add("served / told 429", $"{answers.Count(a => a.Status == HttpStatusCode.OK)} / {limited.Count}");
        summary.Add("another key meanwhile", (int)other.StatusCode);
        summary.Publish();

        Assert.All(answers, a => Assert.True(a.Status is HttpStatusCode.OK or HttpStatusCode.TooManyRequests, $"{a.Status}"));
        Assert.True(answers.Count(a => a.Status == HttpStatusCode.OK) >= 10, "the burst is served");
        Assert.NotEmpty(limited);
        Assert.All(limited, a =>
        {
            Assert.Equal("https://ledger.example/problems/too-many-requests", a.Type);
            Assert.True(int.TryParse(a.RetryAfter, out var seconds) && seconds >= 1, $"Retry-After: {a.RetryAfter}");
        });
        Assert.Equal(HttpStatusCode.OK, other.StatusCode);
    }

    [Fact]
    public async Task Bodies_over_each_endpoints_limit_are_refused_with_413_whether_announced_or_chunked()
    {
        var summary = new RunSummary("security-body-limits");
        await using var cluster = await ReliabilityCluster.StartAsync(Ct);
        await using var node = await LedgerService.StartAsync(cluster, "node-a", LedgerService.NewAdminKey(), summary.Test, cancellationToken: Ct);
        var line = await Keys.LineKeysAsync(cluster.Superuser);
        using var lathrop = node.CreateClient(line["lathrop"]);
        using var admin = node.CreateClient(node.AdminKey);

        var checks = new List<string>();
        foreach (var (client, path, limit) in new[]
        {
            (lathrop, "/api/v1/units/LTH-BIG-1/events", 1024 * 1024),
            (lathrop, "/api/v1/events", 4 * 1024 * 1024),
            (admin, "/api/v1/factories", 64 * 1024),
        })
        {
            foreach (var chunked in new[] { false, true })
            {
                // Valid JSON, just one byte too long: what a runaway client produces.
                var body = Padded(limit + 1);
                using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(path, UriKind.Relative))
                {
                    Content = chunked ? new StreamContent(new MemoryStream(body)) : new ByteArrayContent(body),
                };
                request.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
                if (chunked) request.Headers.TransferEncodingChunked = true;
                using var response = await client.SendAsync(request, Ct);
                var type = Ingest.ProblemType(await response.Content.ReadAsStringAsync(Ct));
                checks.Add($"{path} {(chunked ? "chunked" : "with Content-Length")}: {(int)response.StatusCode} {type}");
                Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
                Assert.Equal("https://ledger.example/problems/payload-too-large", type);
            }

            // At the limit the body is read and judged on its content instead.
            using var atLimit = await client.PostAsync(new Uri(path, UriKind.Relative),
                new ByteArrayContent(Padded(limit)) { Headers = { ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json") } }, Ct);
            checks.Add($"{path} at the limit: {(int)atLimit.StatusCode}");
            Assert.NotEqual(HttpStatusCode.RequestEntityTooLarge, atLimit.StatusCode);
            Assert.InRange((int)atLimit.StatusCode, 400, 499);
        }

        Assert.Equal(0L, await CountAsync(cluster.Superuser, "select count(*) from ledger.events"));
        foreach (var check in checks) summary.Add("answer", check);
        summary.Publish();
    }

    [Fact]
    public async Task The_service_process_connects_as_a_role_that_cannot_update_delete_or_truncate_events()
    {
        var summary = new RunSummary("security-database-role");
        await using var cluster = await ReliabilityCluster.StartAsync(Ct);
        await using var node = await LedgerService.StartAsync(cluster, "node-a", LedgerService.NewAdminKey(), summary.Test, cancellationToken: Ct);
        using (var line = node.CreateClient((await Keys.LineKeysAsync(cluster.Superuser))["lathrop"]))
        using (var built = await line.SendAsync(Ingest.Post("/api/v1/units/LTH-ROLE-1/events", Built()), Ct))
        {
            Assert.Equal(HttpStatusCode.Created, built.StatusCode);
        }

        await using var sessions = cluster.Superuser.CreateCommand(
            "select string_agg(distinct usename, ',') from pg_stat_activity where datname = 'ledger' and application_name like 'ledger-api/%'");
        var users = (string?)await sessions.ExecuteScalarAsync(Ct);

        var refusals = new List<string>();
        await using (var asService = NpgsqlDataSource.Create(cluster.ServiceConnectionString))
        {
            foreach (var sql in new[] { "update ledger.events set data = '{}'", "delete from ledger.events",
                         "update ledger.mt_events set type = 'x'", "delete from ledger.mt_events", "truncate ledger.mt_events" })
            {
                await using var command = asService.CreateCommand(sql);
                var refused = await Assert.ThrowsAsync<PostgresException>(() => command.ExecuteNonQueryAsync(Ct));
                refusals.Add($"{sql}: {refused.SqlState} {refused.MessageText}");
                Assert.Equal(InsufficientPrivilege, refused.SqlState);
            }
        }

        summary.Add("the service's sessions connect as", users);
        foreach (var refusal in refusals) summary.Add("as the service role", refusal);
        summary.Publish();
        Assert.Equal(ReliabilityCluster.ServiceRole, users);
        Assert.Equal(1L, await CountAsync(cluster.Superuser, "select count(*) from ledger.events"));
    }

    [Fact]
    public async Task Ledger_run_makes_an_owner_and_a_service_role_and_hands_an_older_data_directory_to_them()
    {
        var summary = new RunSummary("security-ledger-run-roles");
        var directory = Directory.CreateTempSubdirectory("ledger-run-");
        // Made 0700; run as root, PostgreSQL runs as postgres, which must reach the data directory inside.
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(directory.FullName, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
            | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
        try
        {
            var dataDir = Path.Combine(directory.FullName, ".ledger");
            var (first, key) = await StartRunAsync(directory.FullName, dataDir, summary.Test);
            await using (first)
            {
                var cluster = new LocalPostgresCluster(new LocalPostgresOptions { DataDirectory = Path.Combine(dataDir, "pgdata") });
                Assert.True(cluster.TryAttach());
                await using var superuser = NpgsqlDataSource.Create(cluster.ConnectionString("ledger"));
                var roles = await RolesAsync(superuser);
                foreach (var (name, value) in roles) summary.Add($"first start: {name}", value);
                AssertRoles(roles);

                // As a ledger run before the roles existed left it: everything the superuser's, no grants.
                await using var legacy = superuser.CreateCommand("""
                    alter schema ledger owner to postgres;
                    do $$ declare t record; begin
                        for t in select oid::regclass as name from pg_class where relnamespace = 'ledger'::regnamespace and relkind = 'r' loop
                            execute format('alter table %s owner to postgres', t.name);
                        end loop;
                    end $$;
                    revoke all on all tables in schema ledger from ledger_app;
                    """);
                await legacy.ExecuteNonQueryAsync(Ct);
                Assert.Equal("postgres", (await RolesAsync(superuser))["owner of ledger.mt_events"]);
                await first.TerminateAsync(TimeSpan.FromSeconds(60));
                Assert.Equal(0, first.ExitCode);
            }

            var (second, secondKey) = await StartRunAsync(directory.FullName, dataDir, summary.Test);
            await using (second)
            {
                var cluster = new LocalPostgresCluster(new LocalPostgresOptions { DataDirectory = Path.Combine(dataDir, "pgdata") });
                Assert.True(cluster.TryAttach());
                await using var superuser = NpgsqlDataSource.Create(cluster.ConnectionString("ledger"));
                var roles = await RolesAsync(superuser);
                foreach (var (name, value) in roles) summary.Add($"after a restart on the older layout: {name}", value);
                AssertRoles(roles);
                Assert.NotEqual(key, secondKey);
                await second.TerminateAsync(TimeSpan.FromSeconds(60));
                Assert.Equal(0, second.ExitCode);
            }

            summary.Publish();
        }
        finally
        {
            directory.Delete(recursive: true);
        }

        static void AssertRoles(Dictionary<string, string?> roles)
        {
            Assert.Equal("ledger_owner", roles["owner of ledger.mt_events"]);
            Assert.Equal("ledger_app", roles["owner of the read models"]);
            Assert.Equal("ledger_app", roles["the service's sessions"]);
            Assert.Equal("insert, select", roles["ledger_app on ledger.events"]);
            Assert.Equal("insert, select", roles["ledger_app on ledger.mt_events"]);
            Assert.Equal("true", roles["ledger_owner is a member of ledger_app"]);
        }
    }

    [Fact]
    public async Task A_key_revoked_with_ledger_keys_is_refused_at_once_by_every_node()
    {
        var summary = new RunSummary("security-revocation");
        await using var cluster = await ReliabilityCluster.StartAsync(Ct);
        var adminKey = LedgerService.NewAdminKey();
        await using var a = await LedgerService.StartAsync(cluster, "node-a", adminKey, summary.Test, cancellationToken: Ct);
        await using var b = await LedgerService.StartAsync(cluster, "node-b", adminKey, summary.Test, cancellationToken: Ct);
        var environment = LedgerCli.On(cluster);

        var (created, output) = await LedgerCli.RunAsync(environment, Path.GetTempPath(), "keys", "create", "--name", "grafana", "--role", "reporting");
        Assert.True(created == 0, output);
        var key = output.Split('\n').Select(l => l.Trim()).Single(l => l.StartsWith("ldg_", StringComparison.Ordinal));
        using var viaA = a.CreateClient(key);
        using var viaB = b.CreateClient(key);
        foreach (var client in new[] { viaA, viaB })
        {
            using var before = await client.GetAsync(new Uri("/api/v1/units?limit=1", UriKind.Relative), Ct);
            Assert.Equal(HttpStatusCode.OK, before.StatusCode);
        }

        var (revoked, revokeOutput) = await LedgerCli.RunAsync(environment, Path.GetTempPath(), "keys", "revoke", "grafana");
        Assert.True(revoked == 0, revokeOutput);
        // The very next request, on either node: no cache anywhere may still hold the key.
        using var afterA = await viaA.GetAsync(new Uri("/api/v1/units?limit=1", UriKind.Relative), Ct);
        using var afterB = await viaB.GetAsync(new Uri("/api/v1/units?limit=1", UriKind.Relative), Ct);
        summary.Add("before revocation, both nodes", "200");
        summary.Add("the next request after `ledger keys revoke`", $"node-a {(int)afterA.StatusCode}, node-b {(int)afterB.StatusCode}");
        summary.Publish();
        Assert.Equal(HttpStatusCode.Unauthorized, afterA.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, afterB.StatusCode);
    }

    [Fact]
    public async Task No_key_or_password_appears_in_the_service_log_even_at_debug_level_and_through_an_outage()
    {
        var summary = new RunSummary("security-secrets-in-logs");
        await using var cluster = await ReliabilityCluster.StartAsync(Ct);
        await using var node = await LedgerService.StartAsync(cluster, "node-a", LedgerService.NewAdminKey(), summary.Test, new Dictionary<string, string?>
        {
            ["Logging__LogLevel__Default"] = "Debug",
            ["Logging__LogLevel__Microsoft.AspNetCore"] = "Debug",
            ["Logging__LogLevel__Npgsql"] = "Debug",
        }, Ct);
        var line = await Keys.LineKeysAsync(cluster.Superuser);
        var keys = new List<string>(line.Values) { node.AdminKey };
        foreach (var role in LedgerRoles.All.Where(r => r != LedgerRole.Line)) keys.Add(await Keys.CreateAsync(cluster.Superuser, role));
        var revoked = await Keys.CreateAsync(cluster.Superuser, LedgerRole.Auditor);
        Assert.True(ApiKeyText.TryParse(revoked, out var revokedKey));
        await new ApiKeyStore(cluster.Superuser, TimeProvider.System).RevokeAsync(revokedKey.Id.ToString(), Ct);
        keys.Add(revoked);
        // A key with the right id and a wrong secret, and one for an id that does not exist.
        var wrongSecret = keys[0][..^4] + (keys[0][^4..] == "AAAA" ? "BBBB" : "AAAA");
        var unknown = ApiKeyText.Generate().ToString();
        keys.Add(wrongSecret);
        keys.Add(unknown);

        using var anonymous = node.CreateClient(null);
        async Task ExerciseAsync()
        {
            foreach (var key in keys)
            {
                foreach (var (method, path, body) in new (string, string, JsonNode?)[]
                {
                    ("GET", "/api/v1/whoami", null), ("GET", "/api/v1/units?limit=5", null), ("GET", "/api/v1/projections", null),
                    ("POST", "/api/v1/units/LTH-LOG-1/events", Built()), ("POST", "/api/v1/events", new JsonObject { ["events"] = "no" }),
                    ("POST", "/api/v1/factories", new JsonObject { ["id"] = "BAD" }),
                })
                {
                    using var request = new HttpRequestMessage(new HttpMethod(method), new Uri(path, UriKind.Relative));
                    request.Headers.TryAddWithoutValidation("Authorization", "Bearer " + key);
                    if (body is not null) request.Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json");
                    using var response = await anonymous.SendAsync(request, Ct);
                }

                // Wrongly sent, but as a header the service should never echo to its log either.
                using var basic = new HttpRequestMessage(HttpMethod.Get, new Uri("/api/v1/whoami", UriKind.Relative));
                basic.Headers.TryAddWithoutValidation("Authorization", "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes("user:" + key)));
                using var refused = await anonymous.SendAsync(basic, Ct);
            }
        }

        await ExerciseAsync();
        // An outage: connection failures are logged with their exceptions, which must not carry the connection string.
        await cluster.CrashAsync(Ct);
        await ExerciseAsync();
        await cluster.RestartAsync(Ct);
        await Eventually.HoldsAsync(async () =>
        {
            using var admin = node.CreateClient(node.AdminKey);
            using var response = await admin.GetAsync(new Uri("/api/v1/whoami", UriKind.Relative), Ct);
            return response.StatusCode == HttpStatusCode.OK;
        }, "the node serves again", TimeSpan.FromSeconds(60));
        await ExerciseAsync();
        await node.StopAsync();

        var log = node.ReadLog();
        // The secret is everything after "ldg_<32 hex>_"; base64url may itself contain '_', so cut by position, not by the last '_'.
        const int secretStart = 4 + 32 + 1;
        var secrets = keys.SelectMany(k => new[] { ("key", k), ("key secret", k[secretStart..]) })
            .Append(("service role password", cluster.ServicePassword)).Append(("migration role password", cluster.OwnerPassword))
            .ToList();
        var found = secrets.Where(s => log.Contains(s.Item2, StringComparison.Ordinal)).Select(s => s.Item1).ToList();
        summary.Add("log lines searched", log.Count(c => c == '\n'));
        summary.Add("warnings and errors in the log (the outage's among them)", LedgerService.LinesAt(log, "warn", "fail", "crit").Count());
        summary.Add("secrets searched for (keys, their secrets, role passwords)", secrets.Count);
        summary.Add("secrets found in the log", found.Count == 0 ? "none" : string.Join(", ", found));
        summary.Publish();

        Assert.True(log.Count(c => c == '\n') > 100, "the service logged enough at debug level for the search to mean something");
        Assert.True(found.Count == 0, "found in the service log: " + string.Join(", ", found));
    }

    private static JsonObject Built() => new()
    {
        ["type"] = "UnitBuilt",
        ["occurredAt"] = "2025-06-02T08:00:00Z",
        ["data"] = new JsonObject { ["factoryId"] = "lathrop", ["line"] = "L1", ["model"] = "Megapack 2 XL", ["nameplateKwh"] = 3916 },
    };

    /// <summary>A JSON event whose reason pads it to exactly <paramref name="size"/> bytes.</summary>
    private static byte[] Padded(int size)
    {
        const string prefix = "[{\"type\":\"UnitScrapped\",\"occurredAt\":\"2025-06-02T08:00:00Z\",\"data\":{\"reason\":\"";
        const string suffix = "\"}}]";
        return Encoding.UTF8.GetBytes(prefix + new string('x', size - prefix.Length - suffix.Length) + suffix);
    }

    private static async Task<long> CountAsync(NpgsqlDataSource dataSource, string sql)
    {
        await using var command = dataSource.CreateCommand(sql);
        return (long)(await command.ExecuteScalarAsync(Ct))!;
    }

    /// <summary>Starts `ledger run` on a free port and returns it with the admin key it printed.</summary>
    private static async Task<(ChildProcess Process, string Key)> StartRunAsync(string workingDirectory, string dataDir, string test)
    {
        using var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        var log = Path.Combine(RunSummary.ResultsDirectory, "logs", $"{test}-{DateTime.UtcNow:HHmmssfff}.log");
        var process = ChildProcess.Start(LedgerBinaries.CliAssembly, ["run", "--data-dir", dataDir, "--urls", $"http://127.0.0.1:{port}"],
            new Dictionary<string, string?>(), log, workingDirectory);
        string? key = null;
        await Eventually.HoldsAsync(() =>
        {
            if (process.HasExited) Assert.Fail($"ledger run exited with {process.ExitCode}; see {log}");
            using var stream = new FileStream(log, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            using var reader = new StreamReader(stream);
            key = reader.ReadToEnd().Split('\n').Select(l => l.Trim()).Where(l => l.StartsWith("admin key", StringComparison.Ordinal))
                .Select(l => l["admin key".Length..].Trim()).LastOrDefault();
            return Task.FromResult(key is not null);
        }, "ledger run prints its admin key", TimeSpan.FromMinutes(3));

        using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
        client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", key);
        using var whoami = await client.GetAsync(new Uri("/api/v1/whoami", UriKind.Relative), Ct);
        Assert.Equal(HttpStatusCode.OK, whoami.StatusCode);
        return (process, key!);
    }

    private static async Task<Dictionary<string, string?>> RolesAsync(NpgsqlDataSource superuser)
    {
        var queries = new Dictionary<string, string>
        {
            ["owner of ledger.mt_events"] = "select pg_get_userbyid(relowner) from pg_class where oid = 'ledger.mt_events'::regclass",
            ["owner of the read models"] = "select string_agg(distinct pg_get_userbyid(relowner), ',') from pg_class where oid = any(@tables::regclass[])",
            ["the service's sessions"] = "select string_agg(distinct usename, ',') from pg_stat_activity where datname = 'ledger' and application_name like 'ledger-api/%'",
            ["ledger_app on ledger.events"] = """
                select string_agg(p, ', ' order by p) from unnest(array['select', 'insert', 'update', 'delete', 'truncate']) p
                where has_table_privilege('ledger_app', 'ledger.events', p)
                """,
            ["ledger_app on ledger.mt_events"] = """
                select string_agg(p, ', ' order by p) from unnest(array['select', 'insert', 'update', 'delete', 'truncate']) p
                where has_table_privilege('ledger_app', 'ledger.mt_events', p)
                """,
            ["ledger_owner is a member of ledger_app"] = "select pg_has_role('ledger_owner', 'ledger_app', 'MEMBER')::text",
        };
        var roles = new Dictionary<string, string?>();
        foreach (var (name, sql) in queries)
        {
            await using var command = superuser.CreateCommand(sql);
            if (sql.Contains("@tables", StringComparison.Ordinal)) command.Parameters.AddWithValue("tables", Api.ServiceDefaults.DatabaseRoles.ReadModelTables.ToArray());
            roles[name] = await command.ExecuteScalarAsync(Ct) as string;
        }

        return roles;
    }
}
