using System.Diagnostics;
using System.Globalization;
using Ledger.EventStore;
using Ledger.Production.Factories;
using Ledger.ReadModels.Tests.Support;
using Ledger.Testing;
using Npgsql;

namespace Ledger.ReadModels.Tests;

/// <summary>
/// The same stored history projected into FactoryThroughput twice, by Marten's daemon and by the ledger's own, one after
/// the other on one database: the tables must be equal. Prints each daemon's catch-up rate (never asserted: the machine is
/// shared). LEDGER_DAEMON_COMPARE_UNITS sets the history's size (units; the default, 3,100, is about 14,600 events).
/// </summary>
public sealed class MartenDaemonComparisonTests(DatabaseFixture database) : IClassFixture<DatabaseFixture>
{
    private const int BatchSize = 500;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Martens_daemon_and_the_own_daemon_project_the_same_factory_throughput()
    {
        var units = int.Parse(Environment.GetEnvironmentVariable("LEDGER_DAEMON_COMPARE_UNITS") ?? "3100", CultureInfo.InvariantCulture);
        await using var db = await database.CreateDatabaseAsync(Ct);
        await using var dataSource = EventStoreDataSource.Create(db.ConnectionString, "marten-daemon-compare");
        await MartenDaemon.MigrateAsync(dataSource, Ct);
        var history = History.Generate(lathropUnits: units * 18 / 31, shanghaiUnits: units - units * 18 / 31);
        long head;
        await using (var store = MartenDaemon.Store(dataSource))
        {
            await Task.WhenAll(history.Chunk((history.Count + 3) / 4).Select((part, i) => Task.Run(() => History.AppendAsync(store, part, seed: 11 + i, Ct), Ct)));
            head = await store.GetHeadPositionAsync(Ct);
        }

        var events = await ScalarAsync(dataSource, "select count(*) from ledger.events");

        var marten = await TimeAsync(dataSource, MartenDaemon.ThroughputShard, "ledger.mt_event_progression", "last_seq_id", head,
            () => Task.FromResult<IAsyncDisposable>(MartenDaemon.Store(dataSource, new FactoryThroughputProjection(InMemoryFactoryRegistry.Seeded))));
        await ExecuteAsync(dataSource, """
            create table public.marten_units as select * from ledger.factory_throughput_units;
            create table public.marten_daily as select * from ledger.factory_throughput_daily;
            truncate ledger.factory_throughput_units, ledger.factory_throughput_daily
            """);

        var own = await TimeAsync(dataSource, FactoryThroughputProjection.ProjectionName, "ledger.projection_checkpoints", "position", head,
            () => Task.FromResult<IAsyncDisposable>(DaemonNode.Start(db.ConnectionString, "compare", o =>
            {
                o.BatchSize = BatchSize;
                // Both daemons apply the live path batch by batch; the own daemon's bulk replay is another comparison.
                o.BulkReplay = false;
                o.PollInterval = TimeSpan.FromMilliseconds(50);
                o.OwnershipInterval = TimeSpan.FromMilliseconds(250);
            }, [new FactoryThroughputProjection(InMemoryFactoryRegistry.Seeded)])));

        var output = TestContext.Current.TestOutputHelper;
        output?.WriteLine($"{events:N0} events ({history.Count:N0} units), batches of {BatchSize} (Marten's default; the own daemon set to it)");
        output?.WriteLine($"Marten's daemon: first batch after {marten.FirstMs:N0} ms, then {marten.Rate:N0} events/s ({marten.CatchUpMs:N0} ms)");
        output?.WriteLine($"own daemon:      first batch after {own.FirstMs:N0} ms, then {own.Rate:N0} events/s ({own.CatchUpMs:N0} ms)");
        output?.WriteLine($"Marten / own:    {marten.Rate / own.Rate:F2}");

        Assert.Equal(0L, await ScalarAsync(dataSource, """
            select (select count(*) from ((table public.marten_units except all table ledger.factory_throughput_units)
                                          union all (table ledger.factory_throughput_units except all table public.marten_units)) u)
                 + (select count(*) from ((table public.marten_daily except all table ledger.factory_throughput_daily)
                                          union all (table ledger.factory_throughput_daily except all table public.marten_daily)) d)
            """));
        Assert.Equal(history.Count, await ScalarAsync(dataSource, "select count(*) from public.marten_units"));
    }

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
