using System.CommandLine;
using System.Globalization;
using System.IO.Compression;
using System.Text.Json;
using Ledger.EventStore;
using Ledger.EventStore.Audit;
using Ledger.Production.Units;
using Ledger.ReadModels;
using Spectre.Console;

namespace Ledger.Cli;

/// <summary>
/// The auditor's commands: <c>ledger digest</c>, <c>ledger verify</c> (database or export file, no server needed),
/// <c>ledger export</c> and <c>ledger import</c>. Exit codes: 0 verified / done, 1 verification failed, 2 unusable input.
/// </summary>
internal static class AuditCommands
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { WriteIndented = true };

    /// <summary>Progress goes to stderr so that stdout can carry an export or a JSON report.</summary>
    private static readonly IAnsiConsole Progress = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });

    public static IEnumerable<Command> Create() => [Digest(), Verify(), Export(), Import()];

    private static Command Digest()
    {
        var dataDirectory = LedgerDatabase.DataDirectoryOption();
        var command = new Command("digest", "Print the ledger's digest (its newest block) as JSON, to keep outside the ledger.") { dataDirectory };
        command.SetAction(async (parse, cancellationToken) =>
        {
            await using var database = await LedgerDatabase.OpenAsync(parse.GetValue(dataDirectory)!, cancellationToken);
            await using var dataSource = EventStoreDataSource.Create(database.ConnectionString, "ledger-cli");
            if (await new LedgerAudit(dataSource).GetDigestAsync(cancellationToken) is not { } digest)
            {
                await Console.Error.WriteLineAsync("Nothing is sealed yet: the service's sealer seals events within seconds of recording them.");
                return 1;
            }

            Console.WriteLine(JsonSerializer.Serialize(new
            {
                digest.BlockNumber, digest.EventCount, digest.LastPosition, digest.SealedEvents,
                MerkleRoot = Convert.ToHexStringLower(digest.MerkleRoot), ChainHash = Convert.ToHexStringLower(digest.ChainHash), digest.SealedAt,
            }, Json));
            return 0;
        });
        return command;
    }

    private static Command Verify()
    {
        var dataDirectory = LedgerDatabase.DataDirectoryOption();
        var file = new Option<FileInfo?>("--file") { Description = "Verify an export file (NDJSON, optionally gzip) instead of the database; no server needed." };
        var digest = new Option<FileInfo?>("--digest") { Description = "A digest kept earlier (the JSON of `ledger digest` or GET /api/v1/audit/digest): prove the history up to it unchanged." };
        var json = new Option<bool>("--json") { Description = "Print the report as JSON." };
        var command = new Command("verify", "Recompute every event hash, stream chain, block and the block chain, and report exactly what differs.")
        {
            dataDirectory, file, digest, json,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            LedgerDigestReference? reference = null;
            if (parse.GetValue(digest) is { } digestFile)
            {
                try
                {
                    reference = await ReadDigestAsync(digestFile, cancellationToken);
                }
                catch (Exception e) when (e is IOException or JsonException or FormatException or KeyNotFoundException or InvalidOperationException)
                {
                    await Console.Error.WriteLineAsync($"Cannot read the digest {digestFile.FullName}: {e.Message}");
                    return 2;
                }
            }

            VerificationReport report;
            try
            {
                report = parse.GetValue(file) is { } exportFile
                    ? await WithProgressAsync("verifying " + exportFile.Name, null, async progress =>
                    {
                        await using var input = OpenExport(exportFile);
                        return await LedgerExport.VerifyAsync(input, reference, progress, cancellationToken);
                    })
                    : await VerifyDatabaseAsync(parse.GetValue(dataDirectory)!, reference, cancellationToken);
            }
            catch (Exception e) when (e is ExportFormatException or IOException or InvalidDataException)
            {
                await Console.Error.WriteLineAsync(e.Message);
                return 2;
            }

            if (parse.GetValue(json)) Console.WriteLine(JsonSerializer.Serialize(report, Json));
            else PrintReport(report);
            return report.Ok ? 0 : 1;
        });
        return command;
    }

    private static Command Export()
    {
        var dataDirectory = LedgerDatabase.DataDirectoryOption();
        var output = new Option<FileInfo?>("--output", "-o") { Description = "Write here (default: stdout). A name ending in .gz is compressed." };
        var gzip = new Option<bool>("--gzip") { Description = "Compress with gzip." };
        var from = new Option<long?>("--from-position") { Description = "Export from this global position (a range export verifies but cannot be imported)." };
        var to = new Option<long?>("--to-position") { Description = "Export up to and including this global position." };
        var command = new Command("export", "Write the ledger (or a range of positions) as NDJSON: events, blocks and a checksum.")
        {
            dataDirectory, output, gzip, from, to,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            await using var database = await LedgerDatabase.OpenAsync(parse.GetValue(dataDirectory)!, cancellationToken);
            await using var dataSource = EventStoreDataSource.Create(database.ConnectionString, "ledger-cli");
            var target = parse.GetValue(output);
            var compress = parse.GetValue(gzip) || target?.Name.EndsWith(".gz", StringComparison.OrdinalIgnoreCase) == true;
            var total = await CountEventsAsync(dataSource, cancellationToken);

            // Written to a temporary name and moved into place at the end: an interrupted export never looks complete.
            var partial = target is null ? null : new FileInfo(target.FullName + ".partial");
            (long Events, long Blocks) written;
            await using (var raw = partial is null ? Console.OpenStandardOutput() : partial.Create())
            await using (var stream = compress ? new GZipStream(raw, CompressionLevel.Optimal) : raw)
            {
                written = await WithProgressAsync("exporting", total, progress =>
                    LedgerExport.WriteAsync(dataSource, stream, parse.GetValue(from), parse.GetValue(to), progress: progress, cancellationToken: cancellationToken));
            }

            if (partial is not null) partial.MoveTo(target!.FullName, overwrite: true);
            await Console.Error.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                $"Exported {written.Events} events and {written.Blocks} blocks{(target is null ? "" : " to " + target.FullName)}."));
            return 0;
        });
        return command;
    }

    private static Command Import()
    {
        var dataDirectory = LedgerDatabase.DataDirectoryOption();
        var file = new Argument<FileInfo>("file") { Description = "A complete export (NDJSON, optionally gzip)." };
        var command = new Command("import", "Load an export into an empty ledger (binary COPY), verifying it as it loads; nothing changes on any error.")
        {
            dataDirectory, file,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var exportFile = parse.GetValue(file)!;
            await using var database = await LedgerDatabase.OpenAsync(parse.GetValue(dataDirectory)!, cancellationToken);
            await database.MigrateAsync(cancellationToken);
            // An import locks the history tables against appends, which only the owner (migration) role may: the
            // service role cannot change history, and an import is an operator's act, not the service's.
            await using var dataSource = EventStoreDataSource.Create(database.MigrationsConnectionString ?? database.ConnectionString, "ledger-cli");
            ImportResult result;
            try
            {
                result = await WithProgressAsync("importing " + exportFile.Name, null, async progress =>
                {
                    await using var input = OpenExport(exportFile);
                    return await LedgerImport.ImportAsync(dataSource, input, progress: progress, eventTypes: UnitEvents.StoredNamesByType,
                        cancellationToken: cancellationToken);
                });
            }
            catch (Exception e) when (e is LedgerNotEmptyException or ExportFormatException or ExportVerificationException or IOException or InvalidDataException)
            {
                await Console.Error.WriteLineAsync(e.Message);
                if (e is ExportVerificationException failed) PrintReport(failed.Report);
                return 2;
            }

            // The inline read model is written by appends, which an import bypasses: fold it from the imported streams.
            // The asynchronous read models catch up by themselves when the service runs.
            await new UnitStatusRebuild(dataSource).RunAsync(null, cancellationToken);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"Imported {result.Events} events in {result.Streams} streams and {result.Blocks} blocks; sealed {result.BlocksSealed} more block(s) for events the source had not sealed yet."));
            return 0;
        });
        return command;
    }

    private static async Task<VerificationReport> VerifyDatabaseAsync(string dataDirectory, LedgerDigestReference? reference, CancellationToken cancellationToken)
    {
        await using var database = await LedgerDatabase.OpenAsync(dataDirectory, cancellationToken);
        await using var dataSource = EventStoreDataSource.Create(database.ConnectionString, "ledger-cli");
        var total = await CountEventsAsync(dataSource, cancellationToken);
        return await WithProgressAsync("verifying", total, progress => new LedgerAudit(dataSource).VerifyAsync(reference, progress, cancellationToken));
    }

    /// <summary>How many events there are: the progress bars' total.</summary>
    private static async Task<long> CountEventsAsync(Npgsql.NpgsqlDataSource dataSource, CancellationToken cancellationToken)
    {
        await using var count = dataSource.CreateCommand("select count(*) from ledger.events");
        return (long)(await count.ExecuteScalarAsync(cancellationToken))!;
    }

    private static Stream OpenExport(FileInfo file)
    {
        var stream = file.OpenRead();
        Span<byte> magic = stackalloc byte[2];
        var read = stream.Read(magic);
        stream.Position = 0;
        return read == 2 && magic[0] == 0x1f && magic[1] == 0x8b ? new GZipStream(stream, CompressionMode.Decompress) : stream;
    }

    private static async Task<LedgerDigestReference> ReadDigestAsync(FileInfo file, CancellationToken cancellationToken)
    {
        await using var stream = file.OpenRead();
        using var document = await JsonDocument.ParseAsync(stream, cancellationToken: cancellationToken);
        var root = document.RootElement;
        var hash = Convert.FromHexString(root.GetProperty("chainHash").GetString() ?? "");
        if (hash.Length != MerkleTree.HashLength) throw new FormatException("chainHash is not a SHA-256 hash");
        return new LedgerDigestReference(root.GetProperty("blockNumber").GetInt64(), hash);
    }

    private static async Task<T> WithProgressAsync<T>(string description, long? total, Func<IProgress<long>, Task<T>> work)
    {
        T result = default!;
        await Progress.Progress().AutoClear(true)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn(), new SpinnerColumn())
            .StartAsync(async context =>
            {
                var bar = context.AddTask(description, maxValue: Math.Max(1, total ?? 1));
                bar.IsIndeterminate = total is null;
                result = await work(new Progress<long>(done =>
                {
                    if (total is null) bar.Description = string.Create(CultureInfo.InvariantCulture, $"{description}: {done:N0} events");
                    else bar.Value = Math.Min(done, bar.MaxValue);
                }));
                bar.Value = bar.MaxValue;
            });
        return result;
    }

    private static void PrintReport(VerificationReport report)
    {
        var digest = report.Digest is { } d
            ? d.Matches ? $"; the history up to block {d.BlockNumber} matches the digest" : $"; the history up to block {d.BlockNumber} does NOT match the digest"
            : "";
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"Checked {report.EventsChecked} events in {report.StreamsChecked} streams and {report.BlocksChecked} blocks ({report.SealedEvents} events sealed, {report.UnsealedEvents} not yet){digest}."));
        if (report.Ok)
        {
            Console.WriteLine("OK: every hash, chain and block recomputes to what the ledger recorded.");
            return;
        }

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"FAILED: {report.Mismatches.Count}{(report.MismatchesTruncated ? "+" : "")} mismatch(es), first found first:"));
        foreach (var m in report.Mismatches.Take(50))
        {
            var where = string.Join(", ", new[]
            {
                m.StreamId is null ? null : $"stream {m.StreamId}", m.StreamVersion is null ? null : $"version {m.StreamVersion}",
                m.Position is null ? null : $"position {m.Position}", m.BlockNumber is null ? null : $"block {m.BlockNumber}",
            }.OfType<string>());
            Console.WriteLine($"  [{m.Kind}] {where}");
            Console.WriteLine($"      {m.Message}");
        }
    }
}
