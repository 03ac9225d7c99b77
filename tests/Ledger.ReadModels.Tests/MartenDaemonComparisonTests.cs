using System.Diagnostics;
using System.Globalization;
using Ledger.EventStore;
using Ledger.EventStore.Projections;
using Ledger.Production.Factories;
using Ledger.ReadModels.Tests.Support;
using Ledger.Testing;
using Npgsql;

namespace Ledger.ReadModels.Tests;

/// <summary>
/// The same stored history projected into each read model twice, by Marten's daemon and by the ledger's own, one after
/// the other on one database: each model's tables must be equal. The history comes from four concurrent writers appending
/// shuffled units in two rounds, so batches hold builds that occurred before builds of earlier batches (Milestones must
/// re-rank). Prints each daemon's catch-up rate per read model (never asserted: the machine is shared).
/// LEDGER_DAEMON_COMPARE_UNITS sets the history's size (units; the default, 3,100, is about 14,600 events).
/// </summary>
public sealed class MartenDaemonComparisonTests(ComparedHistory history) : IClassFixture<ComparedHistory>
{
    private const int BatchSize = 500;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public static TheoryData<string> ReadModels() =>
        [FactoryThroughputProjection.ProjectionName, MilestonesProjection.ProjectionName, DeploymentsProjection.ProjectionName];

    private static IProjection Create(string name) => name switch
    {
        FactoryThroughputProjection.ProjectionName => new FactoryThroughputProjection(InMemoryFactoryRegistry.Seeded),
        MilestonesProjection.ProjectionName => new MilestonesProjection(InMemoryFactoryRegistry.Seeded),
        DeploymentsProjection.ProjectionName => new DeploymentsProjection(),
        _ => throw new ArgumentOutOfRangeException(nameof(name), name, "Not a read model of this test."),
    };

    [Theory]
    [MemberData(nameof(ReadModels))]
    public async Task Martens_daemon_and_the_own_daemon_project_the_same_tables(string readModel)
    {
        var dataSource = history.DataSource;
        var tables = Create(readModel).Tables;
        var marten = await TimeAsync(dataSource, readModel + ":All", "ledger.mt_event_progression", "last_seq_id", history.Head,
            () => Task.FromResult<IAsyncDisposable>(MartenDaemon.Store(dataSource, Create(readModel))));
        // The tables are the projection's own names (constants), never input.
        foreach (var table in tables)
        {
            await ExecuteAsync(dataSource, $"create table {Copy(table)} as select * from {table}");
            await ExecuteAsync(dataSource, $"truncate {table}");
        }

        var own = await TimeAsync(dataSource, readModel, "ledger.projection_checkpoints", "position", history.Head,
            () => Task.FromResult<IAsyncDisposable>(DaemonNode.Start(history.ConnectionString, "compare-" + readModel, o =>
            {
                o.BatchSize = BatchSize;
                // Both daemons apply the live path batch by batch; the own daemon's bulk replay is another comparison.
                o.BulkReplay = false;
                o.PollInterval = TimeSpan.FromMilliseconds(50);
                o.OwnershipInterval = TimeSpan.FromMilliseconds(250);
            }, [Create(readModel)])));

        var output = TestContext.Current.TestOutputHelper;
        output?.WriteLine($"{readModel}: {history.Events:N0} events ({history.Units:N0} units), batches of {BatchSize} (Marten's default; the own daemon set to it)");
        output?.WriteLine($"Marten's daemon: first batch after {marten.FirstMs:N0} ms, then {marten.Rate:N0} events/s ({marten.CatchUpMs:N0} ms)");
        output?.WriteLine($"own daemon:      first batch after {own.FirstMs:N0} ms, then {own.Rate:N0} events/s ({own.CatchUpMs:N0} ms)");
        output?.WriteLine($"Marten / own:    {marten.Rate / own.Rate:F2}");

        foreach (var table in tables)
        {
            var rows = await ScalarAsync(dataSource, $"select count(*) from {table}");
            var differing = await ScalarAsync(dataSource, $"""
                select count(*) from ((table {Copy(table)} except all table {table})
                                      union all (table {table} except all table {Copy(table)})) d
                """);
            output?.WriteLine($"{table}: {rows:N0} rows, {differing} differing");
            Assert.Equal(0L, differing);
            Assert.True(rows > 0, $"{table} holds rows: the comparison compares something");
        }
    }

    private static string Copy(string table) => "public.marten_" + table[(table.IndexOf('.', StringComparison.Ordinal) + 1)..];

    private sealed record Timing(double FirstMs, double CatchUpMs, double Rate);

    /// <summary>Starts a daemon and times it from its first batch to the head.</summary>
    private static async Task<Timing> TimeAsync(
        NpgsqlDataSource dataSource, string name, string table, string column, long head, Func<Task<IAsyncDisposable>> start)
    {
        var clock = Stopwatch.StartNew();
        await using var daemon = await start();
        var (first, firstAt) = (0L, 0.0);
        long reached;
        while ((reached = await ProgressAsync(dataSource, table, column, name)) < head)
        {
            if (reached > 0 && first == 0) (first, firstAt) = (reached, clock.Elapsed.TotalMilliseconds);
            if (clock.Elapsed > TimeSpan.FromMinutes(10)) Assert.Fail($"{name} stopped at {reached} of {head}.");
            await Task.Delay(10, Ct);
        }

        var done = clock.Elapsed.TotalMilliseconds;
        if (first == 0) (first, firstAt) = (0, done);
        return new Timing(firstAt, done - firstAt, (head - first) / Math.Max(1, done - firstAt) * 1000);
    }

    private static async Task<long> ProgressAsync(NpgsqlDataSource dataSource, string table, string column, string name)
    {
        // The table and column are this class's constants, never input.
        await using var command = dataSource.CreateCommand($"select coalesce(max({column}), 0) from {table} where name = @name");
        command.Parameters.Add(new NpgsqlParameter<string>("name", name));
        return Convert.ToInt64(await command.ExecuteScalarAsync(Ct), CultureInfo.InvariantCulture);
    }

    private static async Task<long> ScalarAsync(NpgsqlDataSource dataSource, string sql)
    {
        await using var command = dataSource.CreateCommand(sql);
        return Convert.ToInt64(await command.ExecuteScalarAsync(Ct), CultureInfo.InvariantCulture);
    }

    private static async Task ExecuteAsync(NpgsqlDataSource dataSource, string sql)
    {
        await using var command = dataSource.CreateCommand(sql);
        await command.ExecuteNonQueryAsync(Ct);
    }
}

/// <summary>The generated history, appended by four concurrent writers through a store that projects nothing.</summary>
public sealed class ComparedHistory : IAsyncLifetime
{
    private TestDatabase? _database;

    internal NpgsqlDataSource DataSource { get; private set; } = null!;
    internal string ConnectionString => _database!.ConnectionString;
    internal long Head { get; private set; }
    internal long Events { get; private set; }
    internal int Units { get; private set; }

    public async ValueTask InitializeAsync()
    {
        var cancellationToken = TestContext.Current.CancellationToken;
        var units = int.Parse(Environment.GetEnvironmentVariable("LEDGER_DAEMON_COMPARE_UNITS") ?? "3100", CultureInfo.InvariantCulture);
        var server = await PostgresServer.GetAsync(cancellationToken);
        _database = await server.CreateDatabaseAsync("marten_daemon_compare", cancellationToken);
        DataSource = EventStoreDataSource.Create(_database.ConnectionString, "marten-daemon-compare");
        await MartenDaemon.MigrateAsync(DataSource, cancellationToken);
        var history = History.Generate(lathropUnits: units * 18 / 31, shanghaiUnits: units - units * 18 / 31);
        Units = history.Count;
        await using (var store = MartenDaemon.Store(DataSource))
        {
            await Task.WhenAll(history.Chunk((history.Count + 3) / 4).Select((part, i) => Task.Run(() => History.AppendAsync(store, part, seed: 11 + i, cancellationToken), cancellationToken)));
            Head = await store.GetHeadPositionAsync(cancellationToken);
        }

        await using var count = DataSource.CreateCommand("select count(*) from ledger.events");
        Events = (long)(await count.ExecuteScalarAsync(cancellationToken))!;
    }

    public async ValueTask DisposeAsync()
    {
        await DataSource.DisposeAsync();
        if (_database is not null) await _database.DisposeAsync();
    }
}
