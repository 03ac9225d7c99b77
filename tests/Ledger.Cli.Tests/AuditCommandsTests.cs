using System.Text.Json;
using Ledger.EventStore;
using Ledger.EventStore.Audit;
using Ledger.EventStore.Schema;
using Ledger.Production.Units;
using Ledger.Testing;
using Npgsql;

namespace Ledger.Cli.Tests;

/// <summary>
/// <c>ledger digest</c>, <c>verify</c>, <c>export</c> and <c>import</c> as an auditor runs them: separate processes, exit
/// codes, and reports that name what changed.
/// </summary>
public sealed class AuditCommandsTests(DatabaseFixture database) : IClassFixture<DatabaseFixture>, IAsyncLifetime
{
    private readonly string _work = Directory.CreateTempSubdirectory("ledger-cli-tests-").FullName;
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public ValueTask InitializeAsync() => ValueTask.CompletedTask;

    public ValueTask DisposeAsync()
    {
        Directory.Delete(_work, recursive: true);
        return ValueTask.CompletedTask;
    }

    [Fact]
    public async Task Verify_passes_on_an_untouched_ledger_and_fails_with_a_precise_report_and_exit_code_1_after_a_tamper()
    {
        await using var db = await database.CreateDatabaseAsync(Ct);
        var events = await RecordAndSealAsync(db.ConnectionString, streams: 4, eventsEach: 5);
        var digestFile = Path.Combine(_work, "digest.json");
        var digest = await LedgerCommand.RunAsync(db.ConnectionString, "digest");
        Assert.Equal(0, digest.ExitCode);
        await File.WriteAllTextAsync(digestFile, digest.Output, Ct);

        var clean = await LedgerCommand.RunAsync(db.ConnectionString, "verify", "--digest", digestFile);
        Assert.Equal(0, clean.ExitCode);
        Assert.Contains("Checked 20 events in 4 streams and 1 blocks", clean.Output, StringComparison.Ordinal);
        Assert.Contains("matches the digest", clean.Output, StringComparison.Ordinal);

        var victim = events[13];
        await TamperAsync(db.ConnectionString, victim.Position);
        var tampered = await LedgerCommand.RunAsync(db.ConnectionString, "verify", "--digest", digestFile, "--json");

        Assert.Equal(1, tampered.ExitCode);
        using var report = JsonDocument.Parse(tampered.Output);
        var first = report.RootElement.GetProperty("firstMismatch");
        Assert.Equal("event-hash", first.GetProperty("kind").GetString());
        Assert.Equal((victim.StreamId, victim.StreamVersion, victim.Position),
            (first.GetProperty("streamId").GetString(), first.GetProperty("streamVersion").GetInt64(), first.GetProperty("position").GetInt64()));
        Assert.False(report.RootElement.GetProperty("digest").GetProperty("matches").GetBoolean());
    }

    [Fact]
    public async Task Export_gzip_verify_the_file_with_no_database_import_into_an_empty_ledger_and_verify_again()
    {
        await using var source = await database.CreateDatabaseAsync(Ct);
        await RecordAndSealAsync(source.ConnectionString, streams: 3, eventsEach: 4);
        var digestFile = Path.Combine(_work, "digest.json");
        await File.WriteAllTextAsync(digestFile, (await LedgerCommand.RunAsync(source.ConnectionString, "digest")).Output, Ct);
        var file = Path.Combine(_work, "ledger.ndjson.gz");

        var export = await LedgerCommand.RunAsync(source.ConnectionString, "export", "--output", file);
        Assert.Equal(0, export.ExitCode);
        Assert.Contains("Exported 12 events and 1 blocks", export.Error, StringComparison.Ordinal);
        Assert.Equal([0x1f, 0x8b], (await File.ReadAllBytesAsync(file, Ct)).Take(2));

        var offline = await LedgerCommand.RunAsync("Host=nowhere.invalid", "verify", "--file", file, "--digest", digestFile);
        Assert.Equal(0, offline.ExitCode);
        Assert.Contains("Checked 12 events in 3 streams and 1 blocks", offline.Output, StringComparison.Ordinal);

        await using var target = await database.CreateDatabaseAsync(Ct);
        var import = await LedgerCommand.RunAsync(target.ConnectionString, "import", file);
        Assert.Equal(0, import.ExitCode);
        Assert.Contains("Imported 12 events in 3 streams", import.Output, StringComparison.Ordinal);
        var verified = await LedgerCommand.RunAsync(target.ConnectionString, "verify", "--digest", digestFile);
        Assert.Equal(0, verified.ExitCode);

        var again = await LedgerCommand.RunAsync(target.ConnectionString, "import", file);
        Assert.Equal(2, again.ExitCode);
        Assert.Contains("not empty", again.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Upgrading_from_the_own_store_its_export_imports_and_verifies_against_the_digest_taken_before()
    {
        // Written by the own-store release before the upgrade (tests/Ledger.EventStore.Tests/Audit/Data/README.md).
        var data = Path.Combine(SourceDirectory(), "..", "Ledger.EventStore.Tests", "Audit", "Data");
        var (file, digestFile) = (Path.Combine(data, "own-store-v1.ndjson"), Path.Combine(data, "own-store-v1.digest.json"));
        await using var target = await database.CreateDatabaseAsync(Ct);

        var import = await LedgerCommand.RunAsync(target.ConnectionString, "import", file);
        Assert.Equal(0, import.ExitCode);
        Assert.Contains("Imported 169 events in 6 streams and 8 blocks; sealed 1 more block(s)", import.Output, StringComparison.Ordinal);

        var verified = await LedgerCommand.RunAsync(target.ConnectionString, "verify", "--digest", digestFile);
        Assert.Equal(0, verified.ExitCode);
        Assert.Contains("Checked 169 events in 6 streams and 9 blocks (169 events sealed, 0 not yet); the history up to block 8 matches the digest.", verified.Output, StringComparison.Ordinal);

        var exported = Path.Combine(_work, "after-upgrade.ndjson");
        Assert.Equal(0, (await LedgerCommand.RunAsync(target.ConnectionString, "export", "--output", exported)).ExitCode);
        var offline = await LedgerCommand.RunAsync("Host=nowhere.invalid", "verify", "--file", exported, "--digest", digestFile);
        Assert.Equal(0, offline.ExitCode);
        Assert.StartsWith("{\"format\":\"ledger-export\",\"formatVersion\":2,", await File.ReadAllTextAsync(exported, Ct), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_file_that_is_not_an_export_is_exit_code_2_with_a_message_that_says_why()
    {
        var file = Path.Combine(_work, "not-an-export.ndjson");
        await File.WriteAllTextAsync(file, "{\"hello\":\"world\"}\n", Ct);

        var outcome = await LedgerCommand.RunAsync("Host=nowhere.invalid", "verify", "--file", file);

        Assert.Equal(2, outcome.ExitCode);
        Assert.Contains("not a ledger export", outcome.Error, StringComparison.Ordinal);
    }

    private static async Task<IReadOnlyList<RecordedEvent>> RecordAndSealAsync(string connectionString, int streams, int eventsEach)
    {
        await using var dataSource = EventStoreDataSource.Create(connectionString, "cli-tests");
        await new Migrator(dataSource).MigrateAsync([EventStoreSchema.Migrations], Ct);
        await using (var store = new EventStore.EventStore(dataSource))
        {
            var last = 0L;
            for (var s = 0; s < streams; s++)
            {
                // Real Megapack events: `ledger import` folds the unit status read model from what it loaded.
                var built = new DateTimeOffset(2025, 3, 3, 8, 0, 0, TimeSpan.FromHours(8));
                IUnitEvent[] facts =
                [
                    new UnitBuilt("shanghai", "MP-L1", "Megapack 2 XL", 3916m),
                    .. Enumerable.Range(1, eventsEach - 1).Select(i => new UnitTested("EOL-" + i, TestOutcome.Failed, 3800m + i, 0.9m, "CELL-IMBALANCE")),
                ];
                var events = facts.Select((fact, i) => new EventData(Guid.CreateVersion7(), UnitEvents.Of(fact).StoredName, UnitEvents.Serialize(fact), built.AddHours(i)))
                    .ToArray();
                last = (await store.AppendToStreamAsync($"SHA-2025-{s:D6}", ExpectedVersion.NoStream, events, Ct)).Events[^1].Position;
            }

            // The sealer seals up to the feed's head, which this store's high-water detection moves: wait for it here.
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(Ct);
            deadline.CancelAfter(TimeSpan.FromSeconds(60));
            await store.WaitForFeedAsync(last, deadline.Token);
        }

        var total = streams * eventsEach;
        var sealer = new AuditSealer(dataSource);
        var audit = new LedgerAudit(dataSource);
        await sealer.SealAllAsync(Ct);
        Assert.Equal(total, (await audit.GetDigestAsync(Ct))?.SealedEvents);
        return await audit.ReadEventsAsync(cancellationToken: Ct).ToListAsync(Ct);
    }

    private static string SourceDirectory([System.Runtime.CompilerServices.CallerFilePath] string thisFile = "") => Path.GetDirectoryName(thisFile)!;

    private static async Task TamperAsync(string connectionString, long position)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(Ct);
        await using var command = new NpgsqlCommand(
            "set session_replication_role = replica; update ledger.mt_events set data = jsonb_set(data, '{measuredKwh}', '3999') where seq_id = @p", connection);
        command.Parameters.AddWithValue("p", position);
        await command.ExecuteNonQueryAsync(Ct);
    }
}
