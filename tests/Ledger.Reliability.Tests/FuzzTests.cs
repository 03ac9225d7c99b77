using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Ledger.Api.Access;
using Ledger.Reliability.Tests.Fuzzing;
using Ledger.Reliability.Tests.Support;
using Npgsql;

namespace Ledger.Reliability.Tests;

/// <summary>
/// The deterministic fuzzer (<see cref="FuzzCases"/>) against a service process: random bytes, truncated and deeply
/// nested JSON, wrong types, huge numbers and strings, invalid UTF-8, duplicate keys, wrong content types and lengths,
/// oversized bodies, invalid dates and serials, header abuse and injection attempts in every path, query and body field.
/// Afterwards: no 5xx, every refusal from the application a problem+json, nothing stored but what was acknowledged, the
/// schema, keys and reference factories unchanged, and the service healthy and about as fast as before.
/// </summary>
public sealed class FuzzTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Fuzzed_requests_get_4xx_problems_change_nothing_and_leave_the_service_healthy_and_fast()
    {
        var summary = new RunSummary("fuzz");
        await using var cluster = await ReliabilityCluster.StartAsync(Ct);
        await using var node = await LedgerService.StartAsync(cluster, "node-a", LedgerService.NewAdminKey(), summary.Test, cancellationToken: Ct);
        var line = await Keys.LineKeysAsync(cluster.Superuser);
        var revoked = await Keys.CreateAsync(cluster.Superuser, LedgerRole.Auditor);
        var store = new ApiKeyStore(cluster.Superuser, TimeProvider.System);
        Assert.NotNull(await store.RevokeAsync((await store.ListAsync(cancellationToken: Ct)).Single(k => k.Role == LedgerRole.Auditor).Id.ToString(), Ct));
        var keys = new FuzzKeys(node.AdminKey, line["lathrop"], line["shanghai"], await Keys.CreateAsync(cluster.Superuser, LedgerRole.Reporting),
            await Keys.CreateAsync(cluster.Superuser, LedgerRole.Auditor), revoked);

        var acknowledged = new HashSet<Guid>();
        var baseline = await ProbeAsync(node, keys, "B", acknowledged);
        var before = await InvariantsAsync(cluster.Superuser);

        using var runner = new FuzzRunner(node, keys, ReliabilityMode.FuzzSeed);
        var clock = Stopwatch.StartNew();
        await runner.RunAsync(ReliabilityMode.FuzzRequests, workers: 8, Ct);
        var fuzzing = clock.Elapsed;

        var after = await ProbeAsync(node, keys, "A", acknowledged);
        // Factories an admin request saved are the fuzzer's to change; every other one must be as it was.
        var saved = runner.Results.Where(r => r.Case.Method == "POST" && r.Case.Target == "/api/v1/factories" && r.Status is 200 or 201).Select(SavedFactoryId).ToHashSet();
        before["factories"] = Without(before["factories"], saved);
        var afterInvariants = await InvariantsAsync(cluster.Superuser);
        afterInvariants["factories"] = Without(afterInvariants["factories"], saved);
        using var health = await node.CreateClient(null).GetAsync(new Uri("/health/live", UriKind.Relative), Ct);

        var results = runner.Results.ToList();
        foreach (var result in results) acknowledged.UnionWith(FuzzRunner.AcknowledgedEventIds(result));
        var stored = (await LedgerCheck.ReadEventsAsync(cluster.Superuser)).Select(e => e.EventId).ToHashSet();
        var serverErrors = results.Where(r => r.Status >= 500).ToList();
        var notProblems = results.Where(r => r.Status >= 400 && r.FromApplication && FuzzRunner.ProblemFault(r) is not null).ToList();
        var beforeTheApplication = results.Where(r => r.Status >= 400 && !r.FromApplication).ToList();
        var unanswered = results.Where(r => r.Status == 0).ToList();
        var validRefused = results.Where(r => r.Case.MeantToSucceed && r.Status != 201).ToList();
        var storedUnacknowledged = stored.Except(acknowledged).ToList();
        var acknowledgedMissing = acknowledged.Except(stored).ToList();
        var log = node.ReadLog();
        var logErrors = LedgerService.LinesAt(log, "fail", "crit").ToList();
        var changed = before.Keys.Where(k => before[k] != afterInvariants[k]).ToList();

        summary.Add("seed", ReliabilityMode.FuzzSeed);
        summary.Add("requests sent", results.Count);
        summary.Add("fuzzing took", fuzzing);
        summary.Add("answers by status", string.Join(", ", results.GroupBy(r => r.Status).OrderBy(g => g.Key).Select(g => $"{g.Key}: {g.Count()}")));
        foreach (var category in results.GroupBy(r => r.Case.Category).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            summary.Add($"category {category.Key}", string.Join(", ", category.GroupBy(r => r.Status).OrderBy(g => g.Key).Select(g => $"{g.Key}: {g.Count()}")));
        }

        summary.Add("answers 5xx", serverErrors.Count);
        summary.Add("refusals from the application that are not problem+json", notProblems.Count);
        summary.Add("refusals by the HTTP server before the application (no body)", string.Join(", ", beforeTheApplication.GroupBy(r => r.Status).Select(g => $"{g.Key}: {g.Count()}")));
        summary.Add("requests without an answer", unanswered.Count);
        summary.Add("valid writes among them, refused", validRefused.Count);
        summary.Add("events acknowledged (fuzz and probes)", acknowledged.Count);
        summary.Add("events stored", stored.Count);
        summary.Add("stored but never acknowledged", storedUnacknowledged.Count);
        summary.Add("acknowledged but missing", acknowledgedMissing.Count);
        summary.Add("schema, grants, keys, migrations or factories changed", changed.Count == 0 ? "no" : string.Join(", ", changed));
        foreach (var name in changed)
        {
            var was = before[name].Split('\n').ToHashSet();
            var now = afterInvariants[name].Split('\n').ToHashSet();
            summary.Add($"{name} before", string.Join("; ", was.Except(now)).Replace("|", "\\|", StringComparison.Ordinal));
            summary.Add($"{name} after", string.Join("; ", now.Except(was)).Replace("|", "\\|", StringComparison.Ordinal));
        }

        summary.Add("median write / read before", $"{RunSummary.FormatSeconds(baseline.Write)} / {RunSummary.FormatSeconds(baseline.Read)}");
        summary.Add("median write / read after", $"{RunSummary.FormatSeconds(after.Write)} / {RunSummary.FormatSeconds(after.Read)}");
        summary.Add("slowest fuzz request", results.Max(r => r.Duration));
        summary.Add("errors in the service log (fail/crit)", logErrors.Count);
        foreach (var (name, list) in new[] { ("5xx", serverErrors), ("not problem+json", notProblems), ("no answer", unanswered), ("valid write refused", validRefused) })
        {
            foreach (var r in list.Take(10)) summary.Add($"example {name}", $"{r.Status} {r.Error} {Excerpt(r.Body)} for {r.Case}".Replace("|", "\\|", StringComparison.Ordinal));
        }

        foreach (var line1 in logErrors.Take(5)) summary.Add("example log error", line1.Replace("|", "\\|", StringComparison.Ordinal));
        summary.Publish();

        Assert.Equal(ReliabilityMode.FuzzRequests, results.Count);
        Assert.True(serverErrors.Count == 0, $"{serverErrors.Count} answers were 5xx, e.g.\n" + string.Join("\n", serverErrors.Take(10).Select(r => $"{r.Status} {Excerpt(r.Body)} for {r.Case}")));
        Assert.True(notProblems.Count == 0, $"{notProblems.Count} refusals were not problem+json, e.g.\n" + string.Join("\n", notProblems.Take(10).Select(r => $"{r.Status} {FuzzRunner.ProblemFault(r)} for {r.Case}")));
        Assert.True(unanswered.Count == 0, $"{unanswered.Count} requests got no answer, e.g.\n" + string.Join("\n", unanswered.Take(10).Select(r => $"{r.Error} for {r.Case}")));
        Assert.All(beforeTheApplication, r => Assert.InRange(r.Status, 400, 499));
        Assert.True(validRefused.Count == 0, "valid writes refused: " + string.Join("\n", validRefused.Take(10).Select(r => $"{r.Status} {Excerpt(r.Body)} for {r.Case}")));
        Assert.Empty(storedUnacknowledged);
        Assert.Empty(acknowledgedMissing);
        Assert.True(changed.Count == 0, "changed by the fuzzing: " + string.Join(", ", changed));
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        Assert.True(node.IsRunning, "the service process is still running");
        Assert.True(logErrors.Count == 0, "errors in the service log:\n" + string.Join("\n", logErrors.Take(10)));
        // "Still fast": a generous bound, so that only a service that has really degraded (leaked connections, a wedged
        // pipeline) fails it, not a busy CI machine.
        Assert.True(after.Write <= baseline.Write * 5 + TimeSpan.FromMilliseconds(500), $"writes took {after.Write} after fuzzing, {baseline.Write} before");
        Assert.True(after.Read <= baseline.Read * 5 + TimeSpan.FromMilliseconds(500), $"reads took {after.Read} after fuzzing, {baseline.Read} before");
    }

    /// <summary>Thirty ordinary writes and reads: they must succeed; their median latencies are compared before and after.</summary>
    private static async Task<(TimeSpan Write, TimeSpan Read)> ProbeAsync(LedgerService node, FuzzKeys keys, string tag, HashSet<Guid> acknowledged)
    {
        using var writer = node.CreateClient(keys.LineLathrop);
        using var reader = node.CreateClient(keys.Reporting);
        var writes = new List<TimeSpan>();
        var reads = new List<TimeSpan>();
        for (var i = 0; i < 30; i++)
        {
            var serial = string.Create(CultureInfo.InvariantCulture, $"LTH-PROBE{tag}-{i:D4}");
            var id = Guid.CreateVersion7();
            var clock = Stopwatch.StartNew();
            using (var response = await writer.SendAsync(Ingest.Post($"/api/v1/units/{serial}/events", new JsonObject
            {
                ["eventId"] = id.ToString(),
                ["type"] = "UnitBuilt",
                ["occurredAt"] = "2025-06-02T08:00:00Z",
                ["data"] = new JsonObject { ["factoryId"] = "lathrop", ["line"] = "L1", ["model"] = "Megapack 2 XL", ["nameplateKwh"] = 3916 },
            }), Ct))
            {
                Assert.Equal(HttpStatusCode.Created, response.StatusCode);
            }

            writes.Add(clock.Elapsed);
            acknowledged.Add(id);
            clock.Restart();
            using (var response = await reader.GetAsync(new Uri($"/api/v1/units/{serial}", UriKind.Relative), Ct))
            {
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            }

            reads.Add(clock.Elapsed);
        }

        return (Median(writes), Median(reads));
    }

    private static TimeSpan Median(List<TimeSpan> values) => values.Order().ElementAt(values.Count / 2);

    /// <summary>What no request may change: the schema and its grants, the keys, the migrations, the factories (but those the fuzzer saved).</summary>
    private static async Task<Dictionary<string, string>> InvariantsAsync(NpgsqlDataSource superuser)
    {
        var queries = new Dictionary<string, string>
        {
            ["schema"] = """
                select string_agg(x, E'\n' order by x) from (
                    select 'relation ' || c.relname || ' ' || c.relkind::text || ' ' || pg_get_userbyid(c.relowner) as x
                    from pg_class c where c.relnamespace = 'ledger'::regnamespace
                    union all select 'column ' || table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable
                    from information_schema.columns where table_schema = 'ledger'
                    union all select 'trigger ' || tgname || ' ' || tgrelid::regclass::text || ' ' || tgenabled::text from pg_trigger
                    where not tgisinternal and tgrelid::regclass::text like 'ledger.%'
                    union all select 'function ' || p.oid::regprocedure::text || ' ' || md5(p.prosrc) from pg_proc p where p.pronamespace = 'ledger'::regnamespace
                    union all select 'grant ' || table_name || ' ' || grantee || ' ' || privilege_type from information_schema.role_table_grants where table_schema = 'ledger'
                    union all select 'role ' || rolname || ' ' || rolsuper || ' ' || rolcreaterole || ' ' || rolcreatedb from pg_roles where rolname like 'ledger%'
                ) s
                """,
            ["api keys"] = "select string_agg(id::text || ' ' || name || ' ' || role || ' ' || coalesce(factory_id, '-') || ' ' || encode(secret_hash, 'hex') || ' ' || coalesce(revoked_at::text, 'live'), E'\\n' order by id) from ledger.api_keys",
            ["factories"] = "select string_agg(id || ' ' || f::text, E'\\n' order by id) from ledger.factories f",
            ["migrations"] = "select string_agg(module || version || checksum, E'\\n' order by module, version) from ledger.migrations",
        };
        var snapshot = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (name, sql) in queries)
        {
            await using var command = superuser.CreateCommand(sql);
            snapshot[name] = (string)(await command.ExecuteScalarAsync(Ct))!;
        }

        return snapshot;
    }

    private static string SavedFactoryId(FuzzResult result)
    {
        using var document = System.Text.Json.JsonDocument.Parse(result.Body);
        return document.RootElement.TryGetProperty("id", out var id)
            ? id.GetString()!
            : throw new InvalidOperationException($"A factory was saved ({result.Status}) but the answer names none: {Excerpt(result.Body)} for {result.Case}");
    }

    private static string Without(string rows, HashSet<string> ids) =>
        string.Join('\n', rows.Split('\n').Where(row => !ids.Contains(row.Split(' ')[0])));

    private static string Excerpt(byte[] body)
    {
        var text = Encoding.UTF8.GetString(body, 0, Math.Min(body.Length, 300));
        return text.Replace('\n', ' ');
    }
}
