using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using Ledger.EventStore;
using Ledger.EventStore.Projections;
using Ledger.EventStore.Schema;
using Ledger.Production.Factories;
using Ledger.Production.Units;
using Ledger.ReadModels.Tests.Support;
using Ledger.Testing;
using Marten.Services;
using Npgsql;

namespace Ledger.ReadModels.Tests;

/// <summary>
/// The three asynchronous read models on Marten's async daemon (HotCold, owned by the store) instead of the ledger's own
/// (decision 0006, step 4): the generated history appended by concurrent writers while the daemon runs, then a late part
/// whose builds occurred before ones already projected; projected once, in feed order, with the same answers as
/// <see cref="FactoryThroughputTests"/>, <see cref="MilestonesTests"/> and <see cref="DeploymentsTests"/> get from the own
/// daemon's fold.
/// </summary>
public sealed class MartenDaemonTests(MartenDaemonHistory history) : IClassFixture<MartenDaemonHistory>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [MemberData(nameof(FactoryThroughputTests.FactoriesAndBuckets), MemberType = typeof(FactoryThroughputTests))]
    public async Task Throughput_per_bucket_equals_the_in_memory_fold_of_the_history(string factoryId, CalendarBucket bucket)
    {
        await FactoryThroughputTests.AssertEqualsTheFoldAsync(history.DataSource, history.Reference, factoryId, bucket);
    }

    [Fact]
    public async Task Every_unit_built_is_counted_once() =>
        await FactoryThroughputTests.AssertEveryUnitCountedOnceAsync(history.DataSource, history.Units);

    [Fact]
    public async Task Milestones_are_ranked_by_when_units_were_built_even_when_recorded_after_later_ones_were_projected()
    {
        var milestones = await MilestonesQuery.GetUnitMilestonesAsync(history.DataSource, cancellationToken: Ct);

        Assert.Equal(history.Reference.UnitMilestones(), milestones);
        foreach (var factory in new[] { FactorySeed.Lathrop.Id, FactorySeed.Shanghai.Id })
        {
            // The late part holds each factory's earliest builds: they must have taken the 1st place, and moved the
            // 1,000th, from the units the daemon had already ranked before they were recorded.
            var first = milestones.Single(m => m.FactoryId == factory && m.Nth == 1);
            var thousandth = milestones.Single(m => m.FactoryId == factory && m.Nth == 1000);
            Assert.Contains(first.Serial, history.LateSerials);
            Assert.NotEqual(history.MilestonesBeforeLate.Single(m => m.FactoryId == factory && m.Nth == 1).Serial, first.Serial);
            Assert.NotEqual(history.MilestonesBeforeLate.Single(m => m.FactoryId == factory && m.Nth == 1000).Serial, thousandth.Serial);
        }
    }

    [Fact]
    public async Task First_shipments_to_each_region_equal_the_in_memory_fold_of_the_history()
    {
        var firsts = await MilestonesQuery.GetFirstShipmentsAsync(history.DataSource, cancellationToken: Ct);

        Assert.Equal(history.Reference.FirstShipments(), firsts);
        Assert.NotEmpty(firsts);
    }

    [Theory]
    [MemberData(nameof(DeploymentsTests.Questions), MemberType = typeof(DeploymentsTests))]
    public async Task Deployments_per_bucket_equal_the_in_memory_fold_of_the_history(
        DeploymentGrouping groupBy, CalendarBucket bucket, string? region)
    {
        var (from, to) = (new DateOnly(2024, 5, 1), new DateOnly(2025, 12, 31));

        var rows = await DeploymentsQuery.GetAsync(history.DataSource, groupBy, bucket, from, to, region, Ct);

        Assert.Equal(history.Reference.Deployments(groupBy, bucket, from, to, region), rows);
        Assert.Contains(rows, r => r.UnitsCommissioned > 0);
    }

    [Theory]
    [InlineData(DeploymentGrouping.Region, null)]
    [InlineData(DeploymentGrouping.Site, null)]
    [InlineData(DeploymentGrouping.Site, Ledger.Production.Geography.MarketRegions.Australia)]
    public async Task In_transit_now_equals_the_in_memory_fold_of_the_history(DeploymentGrouping groupBy, string? region)
    {
        var rows = await DeploymentsQuery.GetInTransitAsync(history.DataSource, groupBy, region, Ct);

        Assert.Equal(history.Reference.InTransitNow(groupBy, region), rows);
        Assert.NotEmpty(rows);
    }

    [Fact]
    public async Task Every_event_is_applied_exactly_once_in_feed_order()
    {
        // The witness projection refuses (and so stops the shard) any batch that is not strictly after the last one it
        // committed, and its primary key refuses a second application of any position.
        await using var command = history.DataSource.CreateCommand("""
            select (select count(*) from ledger.events),
                   (select count(*) from public.daemon_seen),
                   (select count(*) from ledger.events e full join public.daemon_seen s using (position)
                    where e.position is null or s.position is null),
                   (select count(distinct batch) from public.daemon_seen)
            """);
        await using var reader = await command.ExecuteReaderAsync(Ct);
        await reader.ReadAsync(Ct);
        var (events, seen, mismatched, batches) = (reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2), reader.GetInt64(3));
        TestContext.Current.TestOutputHelper?.WriteLine($"{events} events, {seen} applied, in {batches} batches");
        Assert.Equal(history.Feed.Count, events);
        Assert.Equal(events, seen);
        Assert.Equal(0, mismatched);
        Assert.True(batches > 1, "the writers ran while the daemon did, so it saw more than one batch");
    }
}

/// <summary>Records every position it is applied to, and checks each batch follows the last one committed.</summary>
internal sealed class WitnessProjection : IProjection
{
    public const string Create = "create table public.daemon_seen (position bigint primary key, batch bigint not null)";

    public string Name => "daemon-witness";

    public IReadOnlyList<string> Tables { get; } = ["public.daemon_seen"];

    public async Task ApplyAsync(ProjectionBatch batch, CancellationToken cancellationToken)
    {
        var positions = batch.Events.Select(e => e.Position).ToArray();
        await using (var last = batch.CreateCommand("select coalesce(max(position), 0) from public.daemon_seen"))
        {
            var lastApplied = (long)(await last.ExecuteScalarAsync(cancellationToken))!;
            if (positions[0] <= lastApplied || positions.Zip(positions.Skip(1)).Any(p => p.First >= p.Second))
                throw new InvalidOperationException($"Out of order: batch {positions[0]}..{positions[^1]} after {lastApplied} was committed.");
        }

        await using var insert = batch.CreateCommand("insert into public.daemon_seen (position, batch) select p, @batch from unnest(@positions::bigint[]) p");
        insert.Parameters.Add(new NpgsqlParameter<long[]>("positions", positions));
        insert.Parameters.Add(new NpgsqlParameter<long>("batch", positions[0]));
        await batch.ExecuteAsync(insert, cancellationToken);
    }
}

/// <summary>Helpers for a store running Marten's daemon over FactoryThroughput and the witness.</summary>
internal static class MartenDaemon
{
    public static readonly string ThroughputShard = MartenSetup.ShardName(FactoryThroughputProjection.ProjectionName);
    public static readonly string MilestonesShard = MartenSetup.ShardName(MilestonesProjection.ProjectionName);
    public static readonly string DeploymentsShard = MartenSetup.ShardName(DeploymentsProjection.ProjectionName);
    public static readonly string WitnessShard = MartenSetup.ShardName("daemon-witness");

    /// <summary>What Marten's coordinator and daemon logged at warning and above, to explain a shard that stopped.</summary>
    public static readonly WarningLog Log = new();

    public static async Task MigrateAsync(NpgsqlDataSource dataSource, CancellationToken cancellationToken)
    {
        await new Migrator(dataSource).MigrateAsync([EventStoreSchema.Migrations, ReadModelsSchema.Migrations], cancellationToken);
        await using var create = dataSource.CreateCommand(WitnessProjection.Create);
        await create.ExecuteNonQueryAsync(cancellationToken);
    }

    public static EventStore.EventStore Store(NpgsqlDataSource dataSource, params IProjection[] projections)
    {
        // These tests drive rebuilds themselves (RebuildTests): the store's own share of rebuilds would race them.
        var options = new EventStoreOptions { EventTypes = UnitEvents.StoredNamesByType, LoggerFactory = Log, RunsRebuilds = false };
        foreach (var projection in projections) options.AsyncProjections.Add(projection);
        var store = new EventStore.EventStore(dataSource, options);
        // The store awaits the start when it is disposed; a failing start shows there and in the log.
        _ = store.StartProjectionsAsync();
        return store;
    }

    public static async Task<long> ProgressAsync(NpgsqlDataSource dataSource, string shard, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand("select coalesce(max(last_seq_id), 0) from ledger.mt_event_progression where name = @name");
        command.Parameters.Add(new NpgsqlParameter<string>("name", shard));
        return (long)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    private static async Task<string> DescribeAsync(NpgsqlDataSource dataSource, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(
            "select string_agg(concat_ws(' ', name, last_seq_id, agent_status, pause_reason, running_on_node), E'\\n' order by name) from ledger.mt_event_progression");
        return await command.ExecuteScalarAsync(cancellationToken) as string ?? "(no rows)";
    }

    /// <summary>Waits until <paramref name="shard"/> has projected up to <paramref name="position"/>.</summary>
    public static async Task WaitForAsync(NpgsqlDataSource dataSource, string shard, long position, CancellationToken cancellationToken)
    {
        // A hang guard, not a timing assertion: a shard that stopped (a failed batch) never gets there.
        var deadline = Stopwatch.StartNew();
        long reached;
        while ((reached = await ProgressAsync(dataSource, shard, cancellationToken)) < position)
        {
            if (deadline.Elapsed > TimeSpan.FromMinutes(2))
            {
                Assert.Fail($"{shard} stopped at {reached}, short of {position}: its batches failed or it has no owner.\n" +
                    $"Progression:\n{await DescribeAsync(dataSource, cancellationToken)}\nLog:\n{Log.Tail(30)}");
            }

            await Task.Delay(50, cancellationToken);
        }
    }
}

/// <summary>
/// The generated history appended by four concurrent writers while a store runs Marten's daemon over the three read
/// models and the witness; then, once the daemon has projected all of that, a late part appended by two writers: each
/// factory's earliest builds and every 25th unit, so builds that occurred before ones already projected and ranked.
/// </summary>
public sealed class MartenDaemonHistory : IAsyncLifetime
{
    private TestDatabase? _database;

    internal NpgsqlDataSource DataSource { get; private set; } = null!;
    internal Reference Reference { get; private set; } = null!;
    internal IReadOnlyList<RecordedEvent> Feed { get; private set; } = [];
    internal int Units { get; private set; }

    /// <summary>The units appended after the rest was projected.</summary>
    internal IReadOnlySet<string> LateSerials { get; private set; } = new HashSet<string>();

    /// <summary>The unit milestones as the daemon had them before the late part was recorded.</summary>
    internal IReadOnlyList<UnitMilestone> MilestonesBeforeLate { get; private set; } = [];

    internal static readonly string[] Shards =
        [MartenDaemon.ThroughputShard, MartenDaemon.MilestonesShard, MartenDaemon.DeploymentsShard, MartenDaemon.WitnessShard];

    public async ValueTask InitializeAsync()
    {
        var cancellationToken = TestContext.Current.CancellationToken;
        var server = await PostgresServer.GetAsync(cancellationToken);
        _database = await server.CreateDatabaseAsync("marten_daemon_history", cancellationToken);
        DataSource = EventStoreDataSource.Create(_database.ConnectionString, "marten-daemon-tests");
        await MartenDaemon.MigrateAsync(DataSource, cancellationToken);

        var units = History.Generate();
        Units = units.Count;
        var late = units.GroupBy(u => ((UnitBuilt)u.Events[0].Event).FactoryId)
            .SelectMany(g => g.OrderBy(u => u.Events[0].OccurredAt).Take(30))
            .Concat(units.Where((_, i) => i % 25 == 0))
            .Select(u => u.Serial)
            .ToHashSet(StringComparer.Ordinal);
        LateSerials = late;
        await using (var store = MartenDaemon.Store(DataSource,
                         new FactoryThroughputProjection(InMemoryFactoryRegistry.Seeded), new MilestonesProjection(InMemoryFactoryRegistry.Seeded),
                         new DeploymentsProjection(), new WitnessProjection()))
        {
            var onTime = units.Where(u => !late.Contains(u.Serial)).ToArray();
            await Task.WhenAll(onTime.Chunk((onTime.Length + 3) / 4).Select((part, i) => Task.Run(() => History.AppendAsync(store, part, seed: 7 + i, cancellationToken), cancellationToken)));
            var head = await store.GetHeadPositionAsync(cancellationToken);
            foreach (var shard in Shards) await MartenDaemon.WaitForAsync(DataSource, shard, head, cancellationToken);
            MilestonesBeforeLate = await MilestonesQuery.GetUnitMilestonesAsync(DataSource, cancellationToken: cancellationToken);

            var recordedLate = units.Where(u => late.Contains(u.Serial)).ToArray();
            await Task.WhenAll(recordedLate.Chunk((recordedLate.Length + 1) / 2).Select((part, i) => Task.Run(() => History.AppendAsync(store, part, seed: 97 + i, cancellationToken), cancellationToken)));
            head = await store.GetHeadPositionAsync(cancellationToken);
            foreach (var shard in Shards) await MartenDaemon.WaitForAsync(DataSource, shard, head, cancellationToken);

            var feed = new List<RecordedEvent>();
            var cursor = FeedCursor.Start;
            FeedPage page;
            while ((page = await store.ReadFeedAsync(cursor, 5_000, cancellationToken: cancellationToken)).Events.Count > 0)
            {
                feed.AddRange(page.Events);
                cursor = page.Next;
            }

            Feed = feed;
        }

        Reference = Reference.Of(Feed);
    }

    public async ValueTask DisposeAsync()
    {
        await DataSource.DisposeAsync();
        if (_database is not null) await _database.DisposeAsync();
    }
}

/// <summary>Keeps the warnings and errors Marten logs, for a failing test's message.</summary>
internal sealed class WarningLog : Microsoft.Extensions.Logging.ILoggerFactory, Microsoft.Extensions.Logging.ILogger
{
    private readonly System.Collections.Concurrent.ConcurrentQueue<string> _lines = new();

    public string Tail(int count) => string.Join('\n', _lines.TakeLast(count));

    public void AddProvider(Microsoft.Extensions.Logging.ILoggerProvider provider)
    {
    }

    public Microsoft.Extensions.Logging.ILogger CreateLogger(string categoryName) => this;

    public void Dispose()
    {
    }

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(Microsoft.Extensions.Logging.LogLevel logLevel) => logLevel >= Microsoft.Extensions.Logging.LogLevel.Warning;

    public void Log<TState>(
        Microsoft.Extensions.Logging.LogLevel logLevel, Microsoft.Extensions.Logging.EventId eventId, TState state, Exception? exception,
        Func<TState, Exception?, string> formatter)
    {
        if (!IsEnabled(logLevel)) return;
        ArgumentNullException.ThrowIfNull(formatter);
        _lines.Enqueue($"{DateTime.UtcNow:HH:mm:ss.fff} {logLevel} {formatter(state, exception)} {exception?.GetType().Name}: {exception?.Message}");
    }
}

/// <summary>
/// A transaction that drew its sequence number and stays open while later appends commit: Marten's daemon must hold the
/// projection before it (its high-water mark stops at the gap, 0006 Q5), and project it once it commits, never skip it.
/// </summary>
public sealed class MartenDaemonHeldAppendTests(DatabaseFixture database) : IClassFixture<DatabaseFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task An_append_held_open_after_drawing_its_position_is_never_passed_and_is_projected_once_it_commits()
    {
        await using var db = await database.CreateDatabaseAsync(Ct);
        await using var dataSource = EventStoreDataSource.Create(db.ConnectionString, "marten-daemon-held");
        await MartenDaemon.MigrateAsync(dataSource, Ct);
        await using var store = MartenDaemon.Store(dataSource, new FactoryThroughputProjection(InMemoryFactoryRegistry.Seeded), new WitnessProjection());
        var day = new DateTimeOffset(2025, 6, 10, 12, 0, 0, TimeSpan.Zero);
        await Build(store, "BEFORE-1", day);
        await MartenDaemon.WaitForAsync(dataSource, MartenDaemon.WitnessShard, await store.GetHeadPositionAsync(Ct), Ct);

        await using var connection = await dataSource.OpenConnectionAsync(Ct);
        await using var held = await connection.BeginTransactionAsync(Ct);
        var heldPosition = await AppendHeldBuildAsync(store, held, "HELD-1", day);
        for (var i = 0; i < 5; i++) await Build(store, $"AFTER-{i}", day);
        var head = await store.GetHeadPositionAsync(Ct);
        Assert.True(head > heldPosition);

        // Watched, not timed: the later appends are committed; however long the daemon runs, it must not pass the gap.
        for (var look = 0; look < 8; look++)
        {
            await Task.Delay(250, Ct);
            Assert.True(await MartenDaemon.ProgressAsync(dataSource, MartenDaemon.WitnessShard, Ct) < heldPosition);
            Assert.True(await MartenDaemon.ProgressAsync(dataSource, MartenDaemon.ThroughputShard, Ct) < heldPosition);
        }

        Assert.Equal(1L, await BuiltAsync(dataSource, day));
        var committedAt = System.Diagnostics.Stopwatch.StartNew();
        await held.CommitAsync(Ct);
        await MartenDaemon.WaitForAsync(dataSource, MartenDaemon.ThroughputShard, head, Ct);
        await MartenDaemon.WaitForAsync(dataSource, MartenDaemon.WitnessShard, head, Ct);
        TestContext.Current.TestOutputHelper?.WriteLine($"projected through {head} {committedAt.ElapsedMilliseconds} ms after the held append committed");

        Assert.Equal(7L, await BuiltAsync(dataSource, day));
        await using var seen = dataSource.CreateCommand("select count(*), count(*) filter (where position = @held) from public.daemon_seen");
        seen.Parameters.Add(new NpgsqlParameter<long>("held", heldPosition));
        await using var reader = await seen.ExecuteReaderAsync(Ct);
        await reader.ReadAsync(Ct);
        Assert.Equal((7L, 1L), (reader.GetInt64(0), reader.GetInt64(1)));
    }

    private static Task Build(EventStore.EventStore store, string serial, DateTimeOffset at) =>
        store.AppendToStreamAsync(serial, ExpectedVersion.NoStream,
            [History.ToEventData(new OccurredEvent(new UnitBuilt("lathrop", "MP-L1", "Megapack 2 XL", 3916m), at))], Ct);

    /// <summary>
    /// A build appended through a Marten session on <paramref name="transaction"/>, which the caller keeps open: it draws
    /// its sequence number now and commits when the test says. Built as the store builds its events (a JsonObject payload
    /// under the stored type name, the headers ledger.events reads).
    /// </summary>
    private static async Task<long> AppendHeldBuildAsync(EventStore.EventStore store, NpgsqlTransaction transaction, string serial, DateTimeOffset at)
    {
        var built = new UnitBuilt("lathrop", "MP-L1", "Megapack 2 XL", 3916m);
        var e = new JasperFx.Events.Event<JsonObject>(JsonNode.Parse(UnitEvents.Serialize(built))!.AsObject())
        {
            Id = Guid.CreateVersion7(),
            Timestamp = DateTimeOffset.UtcNow,
            UserName = "tests",
        };
        e.SetHeader("hash", new string('0', 64));
        e.SetHeader("metadata", JsonSerializer.Deserialize<JsonElement>("""{"actor":"tests"}"""));
        e.SetHeader("occurredAt", Ledger.EventStore.Hashing.EventHasher.FormatTimestamp(at));
        await using var session = store.Marten.LightweightSession(SessionOptions.ForTransaction(transaction));
        session.Events.Append(serial, 1L, [(object)e]);
        // Marten names the event after its CLR type when it joins the session; the stored name is read at save.
        e.EventTypeName = UnitEvents.Of(built).StoredName;
        e.DotNetTypeName = $"{typeof(UnitBuilt).FullName}, {typeof(UnitBuilt).Assembly.GetName().Name}";
        await session.SaveChangesAsync(Ct);
        return e.Sequence;
    }

    private static async Task<long> BuiltAsync(NpgsqlDataSource dataSource, DateTimeOffset day)
    {
        await using var command = dataSource.CreateCommand("select coalesce(sum(units_built), 0)::bigint from ledger.factory_throughput_daily where day = @day");
        command.Parameters.Add(new NpgsqlParameter<DateOnly>("day", DateOnly.FromDateTime(day.UtcDateTime)));
        return (long)(await command.ExecuteScalarAsync(Ct))!;
    }
}

/// <summary>A read model that writes on the batch's read connection instead of through ExecuteAsync.</summary>
public sealed class MartenDaemonStrayWriteTests(DatabaseFixture database) : IClassFixture<DatabaseFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_write_on_the_read_connection_fails_the_batch_instead_of_landing_outside_it()
    {
        await using var db = await database.CreateDatabaseAsync(Ct);
        await using var dataSource = EventStoreDataSource.Create(db.ConnectionString, "marten-daemon-stray");
        await MartenDaemon.MigrateAsync(dataSource, Ct);
        await using var store = MartenDaemon.Store(dataSource, new StrayWriter());
        await store.AppendToStreamAsync("STRAY-1", ExpectedVersion.NoStream,
            [History.ToEventData(new OccurredEvent(new UnitBuilt("lathrop", "MP-L1", "Megapack 2 XL", 3916m), DateTimeOffset.UtcNow))], Ct);

        var watched = Stopwatch.StartNew();
        while (!MartenDaemon.Log.Tail(200).Contains("read-only transaction", StringComparison.Ordinal))
        {
            if (watched.Elapsed > TimeSpan.FromMinutes(1)) Assert.Fail($"The stray write never failed. Log:\n{MartenDaemon.Log.Tail(20)}");
            await Task.Delay(50, Ct);
        }

        await using var count = dataSource.CreateCommand("select count(*) from public.daemon_seen");
        Assert.Equal(0L, (long)(await count.ExecuteScalarAsync(Ct))!);
        Assert.Equal(0L, await MartenDaemon.ProgressAsync(dataSource, "stray-writer:All", Ct));
    }

    private sealed class StrayWriter : IProjection
    {
        public string Name => "stray-writer";

        public IReadOnlyList<string> Tables { get; } = ["public.daemon_seen"];

        public async Task ApplyAsync(ProjectionBatch batch, CancellationToken cancellationToken)
        {
            await using var insert = batch.CreateCommand("insert into public.daemon_seen (position, batch) values (@position, 0)");
            insert.Parameters.Add(new NpgsqlParameter<long>("position", batch.Events[0].Position));
            await insert.ExecuteNonQueryAsync(cancellationToken);
        }
    }
}
