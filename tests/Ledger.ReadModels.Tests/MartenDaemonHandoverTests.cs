using System.Diagnostics;
using Ledger.EventStore;
using Ledger.Production.Units;
using Ledger.ReadModels.Tests.Support;
using Ledger.Testing;
using Npgsql;

namespace Ledger.ReadModels.Tests;

/// <summary>
/// Three node processes run Marten's daemon in HotCold over FactoryThroughput and a witness; a writer appends throughout;
/// the owner is killed with SIGKILL twice. Another node must take over and nothing may be applied twice or lost. Prints
/// each handover (kill → first batch applied by another node); never asserted on time.
/// </summary>
public sealed class MartenDaemonHandoverTests(DatabaseFixture database) : IClassFixture<DatabaseFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Killing_the_owner_hands_its_projections_to_another_node_and_nothing_is_applied_twice_or_lost()
    {
        await using var db = await database.CreateDatabaseAsync(Ct);
        await using var dataSource = EventStoreDataSource.Create(db.ConnectionString, "marten-daemon-handover");
        await MartenDaemon.MigrateAsync(dataSource, Ct);
        await ExecuteAsync(dataSource, "create table public.node_seen (position bigint primary key, node int not null, at timestamptz not null default clock_timestamp())");
        var nodes = new List<Process> { StartNode(db.ConnectionString), StartNode(db.ConnectionString), StartNode(db.ConnectionString) };
        try
        {
            await using var writerStore = MartenDaemon.Store(dataSource);
            using var stopWriting = new CancellationTokenSource();
            var written = 0;
            var writer = Task.Run(async () =>
            {
                while (!stopWriting.IsCancellationRequested)
                {
                    await writerStore.AppendToStreamAsync($"HO-{written:D6}", ExpectedVersion.NoStream,
                        [History.ToEventData(new OccurredEvent(new UnitBuilt("lathrop", "MP-L1", "Megapack 2 XL", 3916m), DateTimeOffset.UtcNow))], Ct);
                    written++;
                    await Task.Delay(20, Ct);
                }
            }, Ct);

            var output = TestContext.Current.TestOutputHelper;
            for (var round = 0; round < 2; round++)
            {
                var owner = await OwnerAsync(dataSource);
                var victim = nodes.Single(p => p.Id == owner);
                var killedAt = DateTimeOffset.UtcNow;
                var clock = Stopwatch.StartNew();
                victim.Kill(entireProcessTree: true);
                nodes.Remove(victim);
                int? successor = null;
                while (successor is null)
                {
                    if (clock.Elapsed > TimeSpan.FromMinutes(1)) Assert.Fail($"No node took over within a minute of killing {owner}.");
                    successor = await ScalarAsync<int?>(dataSource, "select node from public.node_seen where at > @killed and node <> @owner order by position limit 1",
                        ("killed", killedAt), ("owner", owner));
                    await Task.Delay(20, Ct);
                }

                output?.WriteLine($"round {round}: killed owner {owner} (SIGKILL); node {successor} applied its first batch {clock.ElapsedMilliseconds:N0} ms later");
                Assert.NotEqual(owner, successor);
                nodes.Add(StartNode(db.ConnectionString));
            }

            await stopWriting.CancelAsync();
            await writer.ContinueWith(_ => { }, TaskScheduler.Default);
            var head = await writerStore.GetHeadPositionAsync(Ct);
            await MartenDaemon.WaitForAsync(dataSource, "node-witness:All", head, Ct);
            await MartenDaemon.WaitForAsync(dataSource, MartenDaemon.ThroughputShard, head, Ct);

            var events = await ScalarAsync<long>(dataSource, "select count(*) from ledger.events");
            var missing = await ScalarAsync<long>(dataSource, "select count(*) from ledger.events e where not exists (select 1 from public.node_seen s where s.position = e.position)");
            var owners = await ScalarAsync<long>(dataSource, "select count(distinct node) from public.node_seen");
            output?.WriteLine($"{events} events, {written} appended, {owners} nodes applied batches");
            Assert.Equal(0L, missing);
            Assert.Equal(events, await ScalarAsync<long>(dataSource, "select count(*) from public.node_seen"));
            Assert.Equal(events, await ScalarAsync<long>(dataSource, "select coalesce(sum(units_built), 0)::bigint from ledger.factory_throughput_daily"));
            Assert.True(owners >= 3, "three different nodes owned the projections in turn");
        }
        finally
        {
            foreach (var node in nodes) node.Kill(entireProcessTree: true);
        }
    }

    private static Process StartNode(string connectionString)
    {
        var start = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardOutput = false, RedirectStandardError = false };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "Ledger.ReadModels.DaemonNode.dll"));
        start.ArgumentList.Add(connectionString);
        return Process.Start(start)!;
    }

    /// <summary>The node that applied the latest batch, once one has been applied in the last second.</summary>
    private static async Task<int> OwnerAsync(NpgsqlDataSource dataSource)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            if (await ScalarAsync<int?>(dataSource, "select node from public.node_seen where at > clock_timestamp() - interval '1 second' order by position desc limit 1") is { } node)
                return node;
            if (clock.Elapsed > TimeSpan.FromMinutes(1)) Assert.Fail("No node is applying batches.");
            await Task.Delay(50, Ct);
        }
    }

    private static async Task<T> ScalarAsync<T>(NpgsqlDataSource dataSource, string sql, params (string Name, object Value)[] parameters)
    {
        await using var command = dataSource.CreateCommand(sql);
        foreach (var (name, value) in parameters) command.Parameters.AddWithValue(name, value);
        var result = await command.ExecuteScalarAsync(Ct);
        return result is null or DBNull ? default! : (T)result;
    }

    private static async Task ExecuteAsync(NpgsqlDataSource dataSource, string sql)
    {
        await using var command = dataSource.CreateCommand(sql);
        await command.ExecuteNonQueryAsync(Ct);
    }
}
