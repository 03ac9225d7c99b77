using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Ledger.Client;
using Ledger.Demo;
using Ledger.LocalPostgres;
using Ledger.Production.Units;
using Ledger.Testing;
using Npgsql;

namespace Ledger.Cli.Tests;

/// <summary>
/// <c>ledger run</c> as a newcomer runs it (README command 1): on a data directory it creates, it seeds the whole demo
/// history through the service and prints its URLs only once the read models hold all of it and the integration journal
/// every unit notification, once; the read models are held while it posts and filled by the bulk replay after it; Marten's
/// daemon then owns them; a second run on the same directory seeds nothing (issue 15, P8). A run stopped while it posts
/// leaves a part of the history, which the next run completes.
/// </summary>
public sealed class LedgerRunTests : IAsyncDisposable
{
    private static readonly string[] UnitNotificationTypes = ["ledger.unit-shipped.v1", "ledger.unit-delivered.v1", "ledger.unit-commissioned.v1"];
    private static readonly string[] AnnouncedEventTypes =
        [UnitEvents.UnitShipped.StoredName, UnitEvents.UnitDelivered.StoredName, UnitEvents.UnitCommissioned.StoredName];

    private readonly DirectoryInfo _work = Directory.CreateTempSubdirectory("ledger-run-tests-");
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public LedgerRunTests()
    {
        // Run as root, PostgreSQL runs as postgres, which must reach the data directory inside this one (made 0700).
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(_work.FullName, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
                | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
        }
    }

    public async ValueTask DisposeAsync()
    {
        // A run that failed or was killed leaves its cluster running.
        var cluster = new LocalPostgresCluster(new LocalPostgresOptions { DataDirectory = Path.Combine(_work.FullName, ".ledger", "pgdata") });
        if (Directory.Exists(cluster.DataDirectory) && cluster.TryAttach()) await cluster.StopAsync(PostgresStopMode.Fast, CancellationToken.None);
        _work.Delete(recursive: true);
    }

    [Fact]
    public async Task A_first_run_prints_its_urls_once_the_read_models_and_the_journal_hold_the_seeded_history_and_a_second_run_seeds_nothing()
    {
        var dataDir = Path.Combine(_work.FullName, ".ledger");
        string adminKey;
        await using (var first = await RunningLedger.StartAsync(dataDir, _work.FullName))
        {
            var output = first.Output;
            Assert.Contains("Created a local PostgreSQL cluster", output, StringComparison.Ordinal);
            Assert.Contains("Seeding the demo history:", output, StringComparison.Ordinal);
            Assert.DoesNotContain("Seeding the demo history failed", output, StringComparison.Ordinal);
            var posted = PostedEvents(output);
            var caughtUp = output.IndexOf("The read models caught up in", StringComparison.Ordinal);
            Assert.True(caughtUp >= 0, $"the read models did not catch up before the URLs were printed:{Environment.NewLine}{output}");
            Assert.True(caughtUp < output.IndexOf("  API ", StringComparison.Ordinal), "the URLs came before the read models caught up");

            // Read as the URLs are printed: nothing posts meanwhile, so every read model must stand at the last event.
            await using var superuser = first.Superuser();
            var head = await ScalarAsync<long>(superuser, "select max(seq_id) from ledger.mt_events");
            Assert.Equal(posted, await ScalarAsync<long>(superuser, "select count(*) from ledger.mt_events"));
            var readModels = await ReadModelPositionsAsync(superuser);
            Assert.NotEmpty(readModels);
            Assert.All(readModels, p => Assert.Equal((p.Name, head), (p.Name, p.Position)));

            // On the ledger it created, the read models were held while the history was posted and filled by the bulk
            // replay afterwards, every one of them, before they were waited for.
            var filled = output.Split('\n').Select(l => l.Trim()).SingleOrDefault(l => l.StartsWith("Filled ", StringComparison.Ordinal))
                ?? throw new Xunit.Sdk.XunitException($"ledger run printed no 'Filled ...' line:{Environment.NewLine}{output}");
            Assert.All(readModels, p => Assert.Contains(p.Name, filled, StringComparison.Ordinal));
            Assert.True(output.IndexOf("Filled ", StringComparison.Ordinal) < caughtUp, "the read models were waited for before the fill");

            // And the journal: every shipment, delivery and commissioning announced, once (its key is the message id, which
            // is the event's id), before the URLs.
            Assert.Contains("The integration journal holds all", output, StringComparison.Ordinal);
            Assert.True(output.IndexOf("The integration journal holds all", StringComparison.Ordinal) < output.IndexOf("  API ", StringComparison.Ordinal),
                "the URLs came before the journal was complete");
            var announced = await CountByTypeAsync(superuser, "select count(*) from ledger.mt_events where type = any(@types)", AnnouncedEventTypes);
            Assert.True(announced > 100_000, $"{announced} announced events");
            Assert.Equal(announced, await CountByTypeAsync(superuser,
                "select count(*) from ledger.integration_events where type = any(@types)", UnitNotificationTypes));
            Assert.Equal(announced, await CountByTypeAsync(superuser, """
                select count(*) from ledger.integration_events j join ledger.mt_events e on e.id = j.message_id
                where e.type = any(@types)
                """, AnnouncedEventTypes));

            // The daemon owns the read models after the seeding: one more build reaches every one of them.
            var lineKey = await first.CommandAsync("keys", "create", "--name", "run-test-line", "--role", "line", "--factory", "shanghai");
            using var http = new HttpClient { BaseAddress = first.BaseAddress };
            var line = new LedgerClient(http, new LedgerClientOptions { ApiKey = lineKey.Split('\n').Select(l => l.Trim()).Single(l => l.StartsWith("ldg_", StringComparison.Ordinal)) });
            var receipt = await line.RecordAsync($"SHA-{Guid.NewGuid():N}"[..18].ToUpperInvariant(),
                new EventToRecord(new UnitBuilt("shanghai", "MP-L1", "Megapack 2 XL", 3916m), DateTimeOffset.UtcNow.AddMinutes(-1)), cancellationToken: Ct);
            Assert.True(receipt.Position > head);
            await Eventually.HoldsAsync(
                async () => (await ReadModelPositionsAsync(superuser)).All(p => p.Position >= receipt.Position),
                "every read model applies the event recorded after the seeding", TimeSpan.FromMinutes(1));
            adminKey = first.AdminKey;
            Assert.Equal(0, await first.StopAsync());
        }

        await using (var second = await RunningLedger.StartAsync(dataDir, _work.FullName))
        {
            Assert.DoesNotContain("Created a local PostgreSQL cluster", second.Output, StringComparison.Ordinal);
            Assert.DoesNotContain("Seeding the demo history", second.Output, StringComparison.Ordinal);
            Assert.Contains("The ledger holds events already", second.Output, StringComparison.Ordinal);
            Assert.NotEqual(adminKey, second.AdminKey);
            Assert.Equal(0, await second.StopAsync());
        }
    }

    [Fact]
    public async Task A_run_stopped_while_it_posts_the_demo_history_leaves_the_rest_to_the_next_run_which_completes_it()
    {
        var dataDir = Path.Combine(_work.FullName, ".ledger");
        await using (var first = RunningLedger.Launch(dataDir, _work.FullName))
        {
            // Stopped (SIGTERM, as Ctrl+C) a part of the way into the posting.
            await first.WaitUntilStoredAsync(events: 20_000);
            Assert.Equal(130, await first.StopAsync());
            Assert.Contains("Seeding was interrupted", first.Output, StringComparison.Ordinal);
            Assert.DoesNotContain("  API ", first.Output, StringComparison.Ordinal);
        }

        await using var second = await RunningLedger.StartAsync(dataDir, _work.FullName);
        var output = second.Output;
        Assert.Contains("The demo seeding begun on this ledger was interrupted", output, StringComparison.Ordinal);
        Assert.DoesNotContain("The ledger holds events already", output, StringComparison.Ordinal);
        Assert.DoesNotContain("Seeding the demo history failed", output, StringComparison.Ordinal);
        Assert.Contains("The read models caught up in", output, StringComparison.Ordinal);

        // The ledger holds exactly the history the first run began (its as-of is in the correlation id of every event it
        // posted), each event once: what the first run posted and what the second posted.
        await using var superuser = second.Superuser();
        var correlationId = await ScalarAsync<string>(superuser, "select correlation_id from ledger.mt_events order by seq_id limit 1");
        Assert.True(DemoSeeder.TryReadAsOf(correlationId, out var asOf), correlationId);
        var history = DemoHistory.Generate(new DemoHistoryOptions { Until = asOf });
        var stored = new List<Guid>();
        await using (var ids = superuser.CreateCommand("select id from ledger.mt_events where not (stream_id = 'mt_tombstone' and type = 'tombstone')"))
        await using (var reader = await ids.ExecuteReaderAsync(Ct))
        {
            while (await reader.ReadAsync(Ct)) stored.Add(reader.GetGuid(0));
        }

        Assert.Equal(history.Events.Count, stored.Count);
        Assert.True(history.Events.Select(e => e.EventId).ToHashSet().SetEquals(stored), "the ledger holds events other than the history's");
        var postedNow = PostedEvents(output);
        Assert.InRange(postedNow, 1, history.Events.Count - 20_000);

        // As after an uninterrupted run: the read models filled (held again while the rest was posted) and at the last
        // event, and the journal holding every shipment, delivery and commissioning once.
        var head = await ScalarAsync<long>(superuser, "select max(seq_id) from ledger.mt_events");
        var readModels = await ReadModelPositionsAsync(superuser);
        Assert.NotEmpty(readModels);
        Assert.All(readModels, p => Assert.Equal((p.Name, head), (p.Name, p.Position)));
        var filled = output.Split('\n').Select(l => l.Trim()).SingleOrDefault(l => l.StartsWith("Filled ", StringComparison.Ordinal))
            ?? throw new Xunit.Sdk.XunitException($"ledger run printed no 'Filled ...' line:{Environment.NewLine}{output}");
        Assert.All(readModels, p => Assert.Contains(p.Name, filled, StringComparison.Ordinal));
        var announced = history.Events.Count(e => e.Data is UnitShipped or UnitDelivered or UnitCommissioned);
        Assert.Equal(announced, await CountByTypeAsync(superuser,
            "select count(*) from ledger.integration_events where type = any(@types)", UnitNotificationTypes));
        Assert.Equal(announced, await CountByTypeAsync(superuser, """
            select count(distinct j.message_id) from ledger.integration_events j join ledger.mt_events e on e.id = j.message_id
            where e.type = any(@types)
            """, AnnouncedEventTypes));
        Assert.Equal(0, await second.StopAsync());
    }

    private static long PostedEvents(string output)
    {
        var line = output.Split('\n').Select(l => l.Trim()).SingleOrDefault(l => l.StartsWith("Posted ", StringComparison.Ordinal))
            ?? throw new Xunit.Sdk.XunitException($"ledger run printed no 'Posted ...' line:{Environment.NewLine}{output}");
        return long.Parse(line.Split(' ')[1], NumberStyles.AllowThousands, CultureInfo.InvariantCulture);
    }

    /// <summary>Where Marten's daemon has each read model (the projections with a checkpoint row; not the integration subscriptions).</summary>
    private static async Task<List<(string Name, long Position)>> ReadModelPositionsAsync(NpgsqlDataSource superuser)
    {
        await using var command = superuser.CreateCommand("""
            select c.name, coalesce(p.last_seq_id, 0) from ledger.projection_checkpoints c
            left join ledger.mt_event_progression p on p.name = c.name || ':All' order by c.name
            """);
        var positions = new List<(string, long)>();
        await using var reader = await command.ExecuteReaderAsync(Ct);
        while (await reader.ReadAsync(Ct)) positions.Add((reader.GetString(0), reader.GetInt64(1)));
        return positions;
    }

    private static async Task<T> ScalarAsync<T>(NpgsqlDataSource dataSource, string sql)
    {
        await using var command = dataSource.CreateCommand(sql);
        return (T)(await command.ExecuteScalarAsync(Ct))!;
    }

    private static async Task<long> CountByTypeAsync(NpgsqlDataSource dataSource, string sql, string[] types)
    {
        await using var command = dataSource.CreateCommand(sql);
        command.Parameters.AddWithValue("types", types);
        return (long)(await command.ExecuteScalarAsync(Ct))!;
    }

    /// <summary>A <c>ledger run</c> process on its own embedded cluster, from its start to its printed URLs.</summary>
    private sealed class RunningLedger : IAsyncDisposable
    {
        private readonly Process _process;
        private readonly List<string> _lines = [];
        private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly string _dataDir;
        private readonly string _workingDirectory;

        private RunningLedger(Process process, string dataDir, string workingDirectory, Uri baseAddress)
        {
            _process = process;
            _dataDir = dataDir;
            _workingDirectory = workingDirectory;
            BaseAddress = baseAddress;
        }

        public Uri BaseAddress { get; }

        public string Output
        {
            get
            {
                lock (_lines) return string.Join('\n', _lines);
            }
        }

        public string AdminKey => Output.Split('\n').Select(l => l.Trim()).Where(l => l.StartsWith("admin key", StringComparison.Ordinal))
            .Select(l => l["admin key".Length..].Trim()).Last();

        public static async Task<RunningLedger> StartAsync(string dataDir, string workingDirectory)
        {
            var running = Launch(dataDir, workingDirectory);
            // A guard against a hung run only: the seeding's duration is the benchmark's business, not this test's.
            using var guard = CancellationTokenSource.CreateLinkedTokenSource(Ct);
            guard.CancelAfter(TimeSpan.FromMinutes(15));
            var exited = running._process.WaitForExitAsync(guard.Token);
            if (await Task.WhenAny(running._ready.Task, exited) != running._ready.Task || !running._ready.Task.IsCompletedSuccessfully)
            {
                await running.DisposeAsync();
                throw new Xunit.Sdk.XunitException($"ledger run did not print its URLs:{Environment.NewLine}{running.Output}");
            }

            return running;
        }

        /// <summary>Starts <c>ledger run</c> and returns at once.</summary>
        public static RunningLedger Launch(string dataDir, string workingDirectory)
        {
            using var listener = new TcpListener(IPAddress.Loopback, 0);
            listener.Start();
            var port = ((IPEndPoint)listener.LocalEndpoint).Port;
            listener.Stop();
            var start = LedgerCommand.StartInfo(["run", "--data-dir", dataDir, "--urls", $"http://127.0.0.1:{port}"]);
            start.WorkingDirectory = workingDirectory;
            var running = new RunningLedger(new Process { StartInfo = start }, dataDir, workingDirectory, new Uri($"http://127.0.0.1:{port}"));
            running._process.OutputDataReceived += (_, e) => running.Receive(e.Data);
            running._process.ErrorDataReceived += (_, e) => running.Receive(e.Data);
            running._process.Start();
            running._process.StandardInput.Close();
            running._process.BeginOutputReadLine();
            running._process.BeginErrorReadLine();
            return running;
        }

        /// <summary>Waits until the run's ledger holds at least <paramref name="events"/> events (it is seeding).</summary>
        public async Task WaitUntilStoredAsync(long events)
        {
            var cluster = new LocalPostgresCluster(new LocalPostgresOptions { DataDirectory = Path.Combine(_dataDir, "pgdata") });
            await Eventually.HoldsAsync(async () =>
            {
                if (_process.HasExited) throw new Xunit.Sdk.XunitException($"ledger run exited:{Environment.NewLine}{Output}");
                if (!Directory.Exists(cluster.DataDirectory) || !cluster.TryAttach()) return false;
                try
                {
                    await using var superuser = NpgsqlDataSource.Create(cluster.ConnectionString("ledger"));
                    return await ScalarAsync<long>(superuser, "select count(*) from ledger.mt_events") >= events;
                }
                catch (NpgsqlException)
                {
                    // The cluster, the database or Marten's tables are still being created.
                    return false;
                }
            }, $"ledger run stored {events} events", TimeSpan.FromMinutes(10));
        }

        private void Receive(string? line)
        {
            if (line is null) return;
            lock (_lines) _lines.Add(line);
            if (line.StartsWith("Press Ctrl+C to stop", StringComparison.Ordinal)) _ready.TrySetResult();
        }

        /// <summary>The embedded cluster as its superuser, for looking at what the run stored.</summary>
        public NpgsqlDataSource Superuser()
        {
            var cluster = new LocalPostgresCluster(new LocalPostgresOptions { DataDirectory = Path.Combine(_dataDir, "pgdata") });
            Assert.True(cluster.TryAttach(), "the run's cluster is not running");
            return NpgsqlDataSource.Create(cluster.ConnectionString("ledger"));
        }

        /// <summary>Another <c>ledger</c> command on the running cluster; its standard output.</summary>
        public async Task<string> CommandAsync(params string[] arguments)
        {
            var start = LedgerCommand.StartInfo([.. arguments, "--data-dir", _dataDir]);
            start.WorkingDirectory = _workingDirectory;
            using var process = Process.Start(start)!;
            process.StandardInput.Close();
            var output = process.StandardOutput.ReadToEndAsync(Ct);
            var error = process.StandardError.ReadToEndAsync(Ct);
            await process.WaitForExitAsync(Ct);
            Assert.True(process.ExitCode == 0, $"ledger {string.Join(' ', arguments)} exited with {process.ExitCode}: {await error}");
            return await output;
        }

        /// <summary>SIGTERM, as a service manager stops it; its exit code.</summary>
        public async Task<int> StopAsync()
        {
            using (var kill = Process.Start(new ProcessStartInfo("kill") { ArgumentList = { "-TERM", _process.Id.ToString(CultureInfo.InvariantCulture) } })!)
            {
                await kill.WaitForExitAsync(Ct);
            }

            using var guard = CancellationTokenSource.CreateLinkedTokenSource(Ct);
            guard.CancelAfter(TimeSpan.FromMinutes(1));
            await _process.WaitForExitAsync(guard.Token);
            return _process.ExitCode;
        }

        public async ValueTask DisposeAsync()
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                await _process.WaitForExitAsync(CancellationToken.None);
            }

            _process.Dispose();
        }
    }
}
