using Ledger.Api.Access;
using Ledger.Api.Features.Integration.Milestones;
using Ledger.EventStore;
using Ledger.Testing;
using Npgsql;
using static Ledger.Api.Tests.Integration.Milestones;

namespace Ledger.Api.Tests.Integration;

/// <summary>
/// FactoryMilestoneReached across nodes and releases: a change of the node that runs the subscription, a stale batch that
/// lands after another node applied its range, and an upgrade of a ledger that passed milestones before the subscription
/// existed.
/// </summary>
public sealed class MilestonesNodesTests(DatabaseFixture database) : IClassFixture<DatabaseFixture>
{
    private static readonly DateTimeOffset Day = new(2025, 6, 2, 8, 0, 0, TimeSpan.FromHours(8));
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task When_the_node_that_runs_the_subscription_stops_the_other_takes_over_and_no_milestone_is_published_twice()
    {
        const long every = 100;
        await using var db = await database.CreateDatabaseAsync(Ct);
        await using var data = db.CreateDataSource();
        var deliveries = new Deliveries();
        var nodes = new[] { new MilestoneNode(db.ConnectionString, every, deliveries), new MilestoneNode(db.ConnectionString, every, deliveries) };
        try
        {
            var ids = nodes.Select(n => n.NodeId).ToArray();
            var owner = Array.IndexOf(ids, await OwnerAsync(data, ids));
            var other = nodes[1 - owner];
            using var line = await other.ClientAsync(LedgerRole.Line, "lathrop");

            // 1,000 builds through the node that does not run the subscription; the owner stops half-way through.
            for (var batch = 0; batch < 20; batch++)
            {
                if (batch == 10)
                {
                    await SettleAsync(data, deliveries, (await StoredBuildsAsync(data))[^1].Position, 5);
                    await nodes[owner].DisposeAsync();
                }

                await PostBuildsAsync(line, "lathrop", [.. Enumerable.Range(0, 50).Select(i => Day.AddMinutes(batch * 50 + (i * 7 % 50)))]);
            }

            Assert.Equal(other.NodeId, await OwnerAsync(data, [other.NodeId]));
            var builds = await StoredBuildsAsync(data);
            var expected = Expected(builds, every);
            Assert.Equal(10, expected.Count);
            await SettleAsync(data, deliveries, builds[^1].Position, expected.Count);

            Assert.Equal(expected, await AnnouncedAsync(data));
            Assert.Equal(AsMessages(expected), await ReceivedAsync(deliveries));
        }
        finally
        {
            foreach (var node in nodes) await node.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_stale_batch_that_lands_after_another_node_applied_its_range_publishes_nothing()
    {
        const long every = 5;
        await using var db = await database.CreateDatabaseAsync(Ct);
        await using var data = db.CreateDataSource();
        var deliveries = new Deliveries();
        await using var node = new MilestoneNode(db.ConnectionString, every, deliveries);
        using var line = await node.ClientAsync(LedgerRole.Line, "shanghai");
        await PostBuildsAsync(line, "shanghai", [.. Enumerable.Range(1, 4).Select(h => Day.AddHours(h))]);
        var floor = (await StoredBuildsAsync(data))[^1].Position;
        await SettleAsync(data, deliveries, floor, 0);

        // Hold the subscription's progression row, so its next batch (the 5th build: a milestone) waits at Marten's
        // progression update with everything computed, its message included. Meanwhile "another node" applies the same
        // range: the build counted, the count moved, the milestone recorded, the progression moved past it.
        await using var other = await data.OpenConnectionAsync(Ct);
        await using var transaction = await other.BeginTransactionAsync(Ct);
        await ExecuteAsync(other, "select last_seq_id from ledger.mt_event_progression where name = @shard for update", ("shard", Shard));
        var fifth = await PostBuildsAsync(line, "shanghai", [Day.AddHours(5)]);
        var build = (await StoredBuildsAsync(data)).Single(b => b.Serial == fifth[0]);
        await WaitUntilAsync(async () => await ScalarAsync<long>(data,
            "select count(*) from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock' and query like '%mt_event_progression%' and pid <> @pid",
            ("pid", other.ProcessID)) > 0, "the subscription's batch to wait at its progression update");
        await ExecuteAsync(other,
            "insert into ledger.integration_milestone_builds (position, factory_id, occurred_at, serial) values (@position, 'shanghai', @at, @serial); " +
            "update ledger.integration_milestone_counts set builds = 5 where factory_id = 'shanghai'; " +
            "insert into ledger.integration_milestones (factory_id, milestone, published_at) values ('shanghai', 5, now()); " +
            "update ledger.mt_event_progression set last_seq_id = @position where name = @shard",
            ("position", build.Position), ("at", build.OccurredAt), ("serial", build.Serial), ("shard", Shard));
        await transaction.CommitAsync(Ct);

        // The stale batch fails as a whole (its build is counted already: 23505), its message with it. The subscription
        // goes on, and the next milestone comes once.
        await PostBuildsAsync(line, "shanghai", [.. Enumerable.Range(6, 5).Select(h => Day.AddHours(h))]);
        var builds = await StoredBuildsAsync(data);
        await SettleAsync(data, deliveries, builds[^1].Position, 1);
        Assert.Equal(Expected(builds, every).Where(e => e.Milestone == 10), (await ReceivedAsync(deliveries)).Select(m =>
            new Announced(m.FactoryId, m.Milestone, m.MessageId, m.Serial, m.OccurredAt, m.EventId, m.RecordedAt)));
        Assert.Equal(10L, await ScalarAsync<long>(data, "select builds from ledger.integration_milestone_counts where factory_id = 'shanghai'"));
        Assert.Null(await ScalarAsync<Guid?>(data, "select message_id from ledger.integration_milestones where factory_id = 'shanghai' and milestone = 5"));
    }

    [Fact]
    public async Task An_upgraded_ledger_announces_none_of_the_milestones_it_had_passed_and_the_next_one_once()
    {
        await using var db = await database.CreateDatabaseAsync(Ct);
        await using var data = db.CreateDataSource();
        await using (var before = new MilestoneNode(db.ConnectionString, 1000, new Deliveries()))
        {
            using var line = await before.ClientAsync(LedgerRole.Line, "lathrop");
            for (var batch = 0; batch < 3; batch++)
                await PostBuildsAsync(line, "lathrop", [.. Enumerable.Range(0, 700).Select(i => Day.AddDays(-batch).AddSeconds(i))]);

            // A ledger that has been running: its daemon has marked every stored event (Marten's high-water mark), where
            // the upgrade starts the subscription. A node stopped before its daemon marked them (this one, under load: the
            // assertion on the start below then failed, 2,100 against 0) leaves the mark behind or absent, and the upgrade
            // starts the subscription lower; that is correct too (the seeded builds are not counted again, and the rest
            // of this test passed with the mark deleted), but it is not the start this test asserts.
            var lastBuild = (await StoredBuildsAsync(data))[^1].Position;
            await WaitUntilAsync(async () => await ScalarAsync<long>(data,
                "select last_seq_id from ledger.mt_event_progression where name = 'HighWaterMark'") >= lastBuild,
                "the old release's daemon to mark every stored build");
        }

        // The ledger as the release before this one left it: 2,100 builds, no subscription and none of its tables.
        await ExecuteAsync(data,
            "drop table ledger.integration_milestone_builds, ledger.integration_milestone_counts, ledger.integration_milestones; " +
            "drop function ledger.integration_milestones_count; " +
            "delete from ledger.migrations where module = 'ledger-api' and version = 6; " +
            // What the journal received before is not the upgraded ledger's to count.
            "delete from ledger.integration_events; " +
            "delete from ledger.mt_event_progression where name = @shard", ("shard", Shard));

        var deliveries = new Deliveries();
        await using var after = new MilestoneNode(db.ConnectionString, 1000, deliveries);
        using var again = await after.ClientAsync(LedgerRole.Line, "lathrop");
        Assert.Equal(2_100L, await ScalarAsync<long>(data, "select builds from ledger.integration_milestone_counts where factory_id = 'lathrop'"));
        Assert.Equal([new Announced("lathrop", 1000, null, null, null, null, null), new Announced("lathrop", 2000, null, null, null, null, null)],
            await AnnouncedAsync(data));
        Assert.Equal(await ScalarAsync<long>(data, "select last_seq_id from ledger.mt_event_progression where name = 'HighWaterMark'"),
            await ProgressionAsync(data));

        await PostBuildsAsync(again, "lathrop", [.. Enumerable.Range(0, 900).Select(i => Day.AddDays(1).AddSeconds(i))]);
        var builds = await StoredBuildsAsync(data);
        await SettleAsync(data, deliveries, builds[^1].Position, 1);
        var expected = Expected(builds, 1000, firstMilestone: 3000);
        Assert.Equal(AsMessages(expected), await ReceivedAsync(deliveries));
        Assert.Equal(expected, (await AnnouncedAsync(data)).Where(a => a.Milestone == 3000));
    }

    private static string Shard => MartenSetup.ShardName(MilestoneSubscription.Name);

    /// <summary>The node (of <paramref name="candidates"/>) whose session holds the subscription's HotCold lock.</summary>
    private static async Task<string> OwnerAsync(NpgsqlDataSource data, string[] candidates)
    {
        string? owner = null;
        await WaitUntilAsync(async () =>
        {
            owner = await ScalarAsync<string?>(data,
                "select a.application_name from pg_locks l join pg_stat_activity a on a.pid = l.pid " +
                "where l.locktype = 'advisory' and l.granted and ((l.classid::bigint << 32) | l.objid::bigint) = @key " +
                "and a.application_name = any(@names)",
                ("key", MartenSetup.OwnershipLockKey(MilestoneSubscription.Name)), ("names", candidates.Select(c => $"ledger-api/{c}").ToArray()));
            return owner is not null;
        }, "a node to take the subscription's lock");
        return owner!["ledger-api/".Length..];
    }

    private static async Task WaitUntilAsync(Func<Task<bool>> condition, string what)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        deadline.CancelAfter(TimeSpan.FromSeconds(90));
        try
        {
            while (!await condition()) await Task.Delay(100, deadline.Token);
        }
        catch (OperationCanceledException) when (!Ct.IsCancellationRequested)
        {
            Assert.Fail($"Waited 90 s for {what}.");
        }
    }

    private static async Task<T> ScalarAsync<T>(NpgsqlDataSource data, string sql, params (string Name, object Value)[] parameters)
    {
        await using var command = data.CreateCommand(sql);
        foreach (var (name, value) in parameters) command.Parameters.AddWithValue(name, value);
        var result = await command.ExecuteScalarAsync(Ct);
        return result is null or DBNull ? default! : (T)result;
    }

    private static async Task ExecuteAsync(NpgsqlDataSource data, string sql, params (string Name, object Value)[] parameters)
    {
        await using var connection = await data.OpenConnectionAsync(Ct);
        await ExecuteAsync(connection, sql, parameters);
    }

    private static async Task ExecuteAsync(NpgsqlConnection connection, string sql, params (string Name, object Value)[] parameters)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        foreach (var (name, value) in parameters) command.Parameters.AddWithValue(name, value);
        await command.ExecuteNonQueryAsync(Ct);
    }
}
