using System.Diagnostics;
using Ledger.EventStore;
using Ledger.EventStore.Projections;
using Ledger.EventStore.Schema;
using Ledger.Production.Factories;
using Ledger.Production.Units;
using Ledger.ReadModels;
using Ledger.ReadModels.Tests.Support;
using Ledger.Testing;

// A probe of Marten's daemon over the ledger's read models (issue 15, P4; docs/projections.md, "Event types"). It stores
// a generated history once, then lets a fresh daemon catch the three read models up from the start of the feed, in turn
// with every read model handed every type (what the shards loaded before P4) and with each handed only its declared
// types, and prints per shard the events it was handed (the rows Marten loaded and deserialized for it, and that
// MartenSqlProjection read back) and the feed events per second the daemon got through. With --explain it also prints
// PostgreSQL's plans for Marten's page query, without and with an index on mt_events (type, seq_id), and the append rate
// with and without that index. With --live SECONDS it then appends single unit events from 8 writers for that long, in
// turn with each mode, while one daemon keeps the read models live, and prints the read models' lag (the age of the
// oldest event a shard has not passed, sampled every 100 ms, as the benchmark's P4 figure) and the events each shard was
// handed. Figures from one run on a shared machine: compare within a run, never against a bar.
//
// With --split SECONDS it appends single unit events through the store's group commit from --connections writers (64) at
// --rate events/s (1,000) while one daemon keeps the read models live, samples mt_event_progression every ~10 ms, and
// splits each event's delay from its recorded_at to its read models into the stages it passed (LagSplit.cs).
//
//   dotnet run --project tests/Ledger.ReadModels.DaemonProbe -- [--units 20000] [--rounds 2] [--explain] [--live 30]
//     [--split 30 [--rate 1000] [--connections 64]] [--connection CS]
// Without --connection it starts a PostgreSQL container as the tests do (tests/run's environment: Docker, the image).
var units = IntArgument("--units", 20_000);
var rounds = IntArgument("--rounds", 2);
var explain = args.Contains("--explain");
var live = IntArgument("--live", 0);
var connection = Argument("--connection");
var split = IntArgument("--split", 0);
var rate = IntArgument("--rate", 1_000);
var connections = IntArgument("--connections", 64);
var ct = CancellationToken.None;

await using var container = connection is null ? await PostgresContainer.StartAsync(ct) : null;
await using var dataSource = EventStoreDataSource.Create(connection ?? container!.ConnectionString(), "daemon-probe");
await new Migrator(dataSource).MigrateAsync([EventStoreSchema.Migrations, ReadModelsSchema.Migrations], ct);
Console.WriteLine($"Daemon probe, {DateTime.UtcNow:yyyy-MM-dd HH:mm} UTC, {Environment.ProcessorCount} cores, load {Load()}");

var appending = Stopwatch.StartNew();
await using (var store = new EventStore(dataSource, new EventStoreOptions { EventTypes = UnitEvents.StoredNamesByType }))
{
    await History.AppendAsync(store, History.Generate(seed: 20261207, lathropUnits: units * 6 / 10, shanghaiUnits: units * 4 / 10), seed: 3, ct);
}

var head = await ScalarAsync<long>("select coalesce(max(seq_id), 0) from ledger.mt_events");
Console.WriteLine($"History: {units:N0} units, {head:N0} events, appended in {appending.Elapsed.TotalSeconds:F1} s");
Console.WriteLine("  by type: " + await ScalarAsync<string>(
    "select string_agg(type || ' ' || n, ', ' order by n desc) from (select type, count(*) n from ledger.mt_events group by type) t"));

var models = ReadModelCatalog.Create(InMemoryFactoryRegistry.Seeded);
var results = new Dictionary<bool, List<Run>> { [false] = [], [true] = [] };
for (var round = 1; round <= rounds; round++)
{
    foreach (var declared in new[] { false, true })
    {
        var run = await CatchUpAsync(declared);
        results[declared].Add(run);
        Console.WriteLine($"Round {round}, {(declared ? "declared types" : "every type   ")}: {run.Seconds:F2} s from the first batch to the last " +
                          $"shard at the head, {head / run.Seconds:N0} feed events/s, {run.Handed.Values.Sum() / run.Seconds:N0} handed events/s, " +
                          $"probe CPU {run.CpuSeconds:F1} s, load {Load()}");
        foreach (var (name, handed) in run.Handed)
        {
            Console.WriteLine($"    {name,-20} handed {handed,9:N0} events in {run.Batches[name],5:N0} batches, at the head after {run.AtHead[name]:F2} s");
        }

        Console.WriteLine($"    tables equal to the every-type run's: {(run.Checksum == results[false][0].Checksum ? "yes" : "NO")}");
    }
}

if (rounds > 0) PrintTable();
if (explain) await ExplainAsync();
if (live > 0) await LiveAsync(TimeSpan.FromSeconds(live));
if (split > 0) await LagSplit.RunAsync(dataSource, models, TimeSpan.FromSeconds(split), rate, connections, Load);
return;

async Task LiveAsync(TimeSpan duration)
{
    Console.WriteLine();
    var liveUnits = History.Generate(seed: 11, lathropUnits: 30_000, shanghaiUnits: 20_000)
        .Select((u, i) => new Ledger.ReadModels.Tests.Support.UnitHistory($"LIVE-{i:D6}", u.Events)).ToArray();
    var next = 0;
    foreach (var (declared, round) in new[] { (false, 1), (true, 1), (false, 2), (true, 2) })
    {
        var counters = models.Select(m => new Counting(m, declared)).ToList();
        var options = new EventStoreOptions { EventTypes = UnitEvents.StoredNamesByType, NodeId = "probe", RunsRebuilds = false };
        foreach (var counter in counters) options.AsyncProjections.Add(counter);
        await using var store = new EventStore(dataSource, options);
        await store.StartProjectionsAsync();
        await AllAtHeadAsync(await ScalarAsync<long>("select coalesce(max(seq_id), 0) from ledger.mt_events"));
        var handedBefore = counters.ToDictionary(c => c.Name, c => (c.Handed, c.Batches));

        using var stop = new CancellationTokenSource(duration);
        var cpu = Process.GetCurrentProcess().TotalProcessorTime;
        var sampling = SampleLagAsync(stop.Token);
        var appended = 0L;
        var writers = Enumerable.Range(0, 8).Select(_ => Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                var unit = liveUnits[Interlocked.Increment(ref next) % liveUnits.Length];
                foreach (var e in unit.Events)
                {
                    if (stop.IsCancellationRequested) break;
                    await store.AppendToStreamAsync(unit.Serial, ExpectedVersion.Any, [History.ToEventData(e)], CancellationToken.None);
                    Interlocked.Increment(ref appended);
                }
            }
        })).ToArray();
        await Task.WhenAll(writers);
        var lags = await sampling;
        var cpuSeconds = (Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalSeconds;
        await AllAtHeadAsync(await ScalarAsync<long>("select coalesce(max(seq_id), 0) from ledger.mt_events"));
        Console.WriteLine($"Live, round {round}, {(declared ? "declared types" : "every type   ")}: {appended:N0} single-event appends in {duration.TotalSeconds:F0} s " +
                          $"({appended / duration.TotalSeconds:N0}/s); lag p50 {Percentile(lags, 0.5) * 1000:F0} ms, p90 {Percentile(lags, 0.9) * 1000:F0} ms, " +
                          $"p99 {Percentile(lags, 0.99) * 1000:F0} ms ({lags.Count} samples); probe CPU {cpuSeconds:F1} s; load {Load()}");
        foreach (var counter in counters)
        {
            var (handed, batches) = handedBefore[counter.Name];
            Console.WriteLine($"    {counter.Name,-20} handed {counter.Handed - handed,8:N0} events in {counter.Batches - batches,6:N0} batches");
        }
    }
}

async Task AllAtHeadAsync(long position)
{
    var shards = models.Select(m => MartenSetup.ShardName(m.Name)).ToArray();
    await using var command = dataSource.CreateCommand("select count(*) from ledger.mt_event_progression where name = any(@shards) and last_seq_id >= @position");
    command.Parameters.AddWithValue("shards", shards);
    command.Parameters.AddWithValue("position", position);
    var waited = Stopwatch.StartNew();
    while ((long)(await command.ExecuteScalarAsync(ct))! < shards.Length)
    {
        if (waited.Elapsed > TimeSpan.FromMinutes(15)) throw new TimeoutException("The read models did not reach the head in 15 minutes.");
        await Task.Delay(50, ct);
    }
}

// The benchmark's P4 sample (Phases/Projections.cs, SampleLagAsync), the same command: the age of the oldest event after
// any shard's progression.
async Task<List<double>> SampleLagAsync(CancellationToken stop)
{
    var seconds = new List<double>();
    await using var connection = await dataSource.OpenConnectionAsync(CancellationToken.None);
    await using var sampler = ProjectionAdmin.CreateLagSample(models.Select(m => m.Name));
    sampler.Connection = connection;
    using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(100));
    try
    {
        while (await timer.WaitForNextTickAsync(stop)) seconds.Add((double)(await sampler.ExecuteScalarAsync(CancellationToken.None))!);
    }
    catch (OperationCanceledException) when (stop.IsCancellationRequested)
    {
        // The load ended.
    }

    return seconds;
}

static double Percentile(List<double> values, double p)
{
    if (values.Count == 0) return double.NaN;
    var sorted = values.Order().ToArray();
    return sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(p * sorted.Length) - 1)];
}

void PrintTable()
{
    Console.WriteLine();
    Console.WriteLine("| | every type | declared types | ratio |");
    Console.WriteLine("|---|---|---|---|");
    foreach (var model in models)
    {
        var all = results[false].Average(r => r.Handed[model.Name]);
        var mine = results[true].Average(r => r.Handed[model.Name]);
        Console.WriteLine($"| {model.Name}: events handed (loaded, deserialized, read back) | {all:N0} | {mine:N0} | {mine / all:F2} |");
    }

    var allTotal = results[false].Average(r => r.Handed.Values.Sum());
    var mineTotal = results[true].Average(r => r.Handed.Values.Sum());
    Console.WriteLine($"| all three shards: events handed | {allTotal:N0} | {mineTotal:N0} | {mineTotal / allTotal:F2} |");
    Console.WriteLine($"| catch-up, feed events/s (median of {rounds}) | {Median(results[false].Select(r => head / r.Seconds)):N0} | " +
                      $"{Median(results[true].Select(r => head / r.Seconds)):N0} | " +
                      $"{Median(results[true].Select(r => head / r.Seconds)) / Median(results[false].Select(r => head / r.Seconds)):F2} |");
    Console.WriteLine($"| probe CPU per run, s (median) | {Median(results[false].Select(r => r.CpuSeconds)):F1} | {Median(results[true].Select(r => r.CpuSeconds)):F1} | " +
                      $"{Median(results[true].Select(r => r.CpuSeconds)) / Median(results[false].Select(r => r.CpuSeconds)):F2} |");
}

async Task<Run> CatchUpAsync(bool declared)
{
    foreach (var table in models.SelectMany(m => m.Tables)) await ExecuteAsync($"truncate {table}");
    await ExecuteAsync("delete from ledger.mt_event_progression where name like '%:All'");
    var counters = models.Select(m => new Counting(m, declared)).ToList();
    var options = new EventStoreOptions { EventTypes = UnitEvents.StoredNamesByType, NodeId = "probe", RunsRebuilds = false };
    foreach (var counter in counters) options.AsyncProjections.Add(counter);
    var shards = models.Select(m => MartenSetup.ShardName(m.Name)).ToArray();
    var cpu = Process.GetCurrentProcess().TotalProcessorTime;
    var atHead = new Dictionary<string, double>(StringComparer.Ordinal);
    double seconds;
    await using (var store = new EventStore(dataSource, options))
    {
        await store.StartProjectionsAsync();
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            var first = counters.Select(c => c.FirstBatch).Where(t => t is not null).Min();
            await using var command = dataSource.CreateCommand("select name, last_seq_id from ledger.mt_event_progression where name = any(@shards) and last_seq_id >= @head");
            command.Parameters.AddWithValue("shards", shards);
            command.Parameters.AddWithValue("head", head);
            await using (var reader = await command.ExecuteReaderAsync(ct))
            {
                while (await reader.ReadAsync(ct))
                {
                    var name = reader.GetString(0)[..^":All".Length];
                    if (!atHead.ContainsKey(name) && first is not null) atHead[name] = Stopwatch.GetElapsedTime(first.Value).TotalSeconds;
                }
            }

            if (atHead.Count == shards.Length)
            {
                seconds = atHead.Values.Max();
                break;
            }

            if (deadline.Elapsed > TimeSpan.FromMinutes(15)) throw new TimeoutException("The read models did not reach the head in 15 minutes.");
            await Task.Delay(20, ct);
        }
    }

    var checksum = "";
    foreach (var table in models.SelectMany(m => m.Tables))
    {
        checksum += await ScalarAsync<string>($"select coalesce(md5(string_agg(t::text, ',' order by t::text)), '') from {table} t");
    }

    return new Run(seconds, (Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalSeconds,
        counters.ToDictionary(c => c.Name, c => c.Handed), counters.ToDictionary(c => c.Name, c => c.Batches), atHead, checksum);
}

async Task ExplainAsync()
{
    // Marten 9.62.0's page query for a filtered shard (EventLoader: the events joined to their streams, a sequence range,
    // the type filter, not archived, in sequence order, a page of 500), with its selected columns shortened to d.*.
    const string Page = """
        select d.*, s.type as stream_type from ledger.mt_events as d inner join ledger.mt_streams as s on d.stream_id = s.id
        where d.seq_id > @floor and d.seq_id <= @ceiling and d.type = ANY(@types) and d.is_archived = FALSE
        order by d.seq_id limit 500
        """;
    var cases = new (string What, long Floor, string[] Types)[]
    {
        ("live: the last 2,000 events, deployments' 6 types", head - 2_000, [.. models.Single(m => m.Name == "deployments").EventTypes!]),
        ("catch-up: from the start, milestones' 3 types", 0, [.. models.Single(m => m.Name == "milestones").EventTypes!]),
        ("a rare type from the start (no shard of ours): unit-scrapped.v1", 0, [UnitEvents.UnitScrapped.StoredName]),
        ("no type at all in the range (worst case): not-stored.v1", 0, ["not-stored.v1"]),
    };
    foreach (var withIndex in new[] { false, true })
    {
        if (withIndex) await ExecuteAsync("create index idx_mt_events_event_type_seq_id on ledger.mt_events (type, seq_id); analyze ledger.mt_events");
        Console.WriteLine();
        Console.WriteLine(withIndex ? "With an index on mt_events (type, seq_id):" : "Without an index on mt_events (type):");
        foreach (var (what, floor, types) in cases)
        {
            // Twice: the first warms the cache, the second is printed.
            string plan = "";
            for (var i = 0; i < 2; i++)
            {
                await using var command = dataSource.CreateCommand("explain (analyze, buffers) " + Page);
                command.Parameters.AddWithValue("floor", floor);
                command.Parameters.AddWithValue("ceiling", head);
                command.Parameters.AddWithValue("types", types);
                var lines = new List<string>();
                await using var reader = await command.ExecuteReaderAsync(ct);
                while (await reader.ReadAsync(ct)) lines.Add(reader.GetString(0));
                plan = string.Join("\n      ", lines);
            }

            Console.WriteLine($"  {what}:\n      {plan}");
        }
    }

    // An index costs every append: the same appends with and without it, alternately.
    Console.WriteLine();
    var extra = History.Generate(seed: 7, lathropUnits: 1_200, shanghaiUnits: 800);
    foreach (var (withIndex, round) in new[] { (true, 1), (false, 1), (true, 2), (false, 2) })
    {
        await ExecuteAsync(withIndex
            ? "create index if not exists idx_mt_events_event_type_seq_id on ledger.mt_events (type, seq_id)"
            : "drop index if exists ledger.idx_mt_events_event_type_seq_id");
        var before = await ScalarAsync<long>("select count(*) from ledger.mt_events");
        // The write-ahead log the appends generate: what an index costs each append, independent of the machine's load.
        var walBefore = await ScalarAsync<string>("select pg_current_wal_insert_lsn()::text");
        var watch = Stopwatch.StartNew();
        await using (var store = new EventStore(dataSource, new EventStoreOptions { EventTypes = UnitEvents.StoredNamesByType }))
        {
            await History.AppendAsync(store, extra, seed: round, ct);
        }

        var seconds = watch.Elapsed.TotalSeconds;
        var added = await ScalarAsync<long>("select count(*) from ledger.mt_events") - before;
        var wal = await ScalarAsync<decimal>($"select pg_wal_lsn_diff(pg_current_wal_insert_lsn(), '{walBefore}'::pg_lsn)");
        Console.WriteLine($"Append, round {round}, {(withIndex ? "with" : "without")} the index: {added:N0} events in {seconds:F2} s, " +
                          $"{added / seconds:N0} events/s, {wal / added:N0} bytes of WAL per event; index size {await ScalarAsync<string>("select coalesce(pg_size_pretty(pg_relation_size(to_regclass('ledger.idx_mt_events_event_type_seq_id'))), '-')")}");
    }

    await ExecuteAsync("drop index if exists ledger.idx_mt_events_event_type_seq_id");
}

async Task ExecuteAsync(string sql)
{
    await using var command = dataSource.CreateCommand(sql);
    await command.ExecuteNonQueryAsync(ct);
}

async Task<T> ScalarAsync<T>(string sql)
{
    await using var command = dataSource.CreateCommand(sql);
    return (T)(await command.ExecuteScalarAsync(ct))!;
}

static double Median(IEnumerable<double> values)
{
    var sorted = values.Order().ToArray();
    return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
}

static string Load() => File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Split(' ')[0] : "?";

string? Argument(string name) => Array.IndexOf(args, name) is var i and >= 0 && i + 1 < args.Length ? args[i + 1] : null;

int IntArgument(string name, int fallback) => Argument(name) is { } text ? int.Parse(text, System.Globalization.CultureInfo.InvariantCulture) : fallback;

internal sealed record Run(
    double Seconds, double CpuSeconds, Dictionary<string, long> Handed, Dictionary<string, long> Batches, Dictionary<string, double> AtHead, string Checksum);

/// <summary>
/// A read model as registered, counting the events and batches it is handed. Handed every type (<c>declared</c> false) it
/// declares none, so Marten loads its shard every event, as before issue 15's P4.
/// </summary>
internal sealed class Counting(IProjection inner, bool declared) : IProjection
{
    private long _handed;
    private long _batches;
    private long _firstBatch;

    public string Name => inner.Name;

    public IReadOnlyList<string> Tables => inner.Tables;

    public IReadOnlyCollection<string>? EventTypes => declared ? inner.EventTypes : null;

    public long Handed => Interlocked.Read(ref _handed);

    public long Batches => Interlocked.Read(ref _batches);

    /// <summary>When the first batch came (a Stopwatch timestamp), or null.</summary>
    public long? FirstBatch => Interlocked.Read(ref _firstBatch) is var t and > 0 ? t : null;

    public Task ApplyAsync(ProjectionBatch batch, CancellationToken cancellationToken)
    {
        Interlocked.CompareExchange(ref _firstBatch, Stopwatch.GetTimestamp(), 0);
        Interlocked.Add(ref _handed, batch.Events.Count);
        Interlocked.Increment(ref _batches);
        return inner.ApplyAsync(batch, cancellationToken);
    }
}
