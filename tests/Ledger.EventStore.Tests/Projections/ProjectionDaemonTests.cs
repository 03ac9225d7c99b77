using Ledger.EventStore.Projections;
using Ledger.EventStore.Tests.Support;
using Ledger.Testing;
using Npgsql;

namespace Ledger.EventStore.Tests.Projections;

/// <summary>
/// The projection daemon against a real PostgreSQL: every event applied exactly once in feed order, one owner per
/// projection across nodes, failover when the owner's connections die, spreading, failures, retries, skips and rebuilds.
/// </summary>
public sealed class ProjectionDaemonTests(DatabaseFixture database) : IClassFixture<DatabaseFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static string[] NewStreams(int count) => Enumerable.Range(0, count).Select(_ => Events.NewStream()).ToArray();

    [Fact]
    public async Task Every_event_is_applied_exactly_once_in_feed_order_under_concurrent_writers()
    {
        await using var db = await database.CreateDatabaseAsync(Ct);
        await using var writer = await Node.StartAsync(db.ConnectionString);
        var counter = new StreamCounter("counter");
        await counter.CreateTablesAsync(writer.DataSource);
        await using var node = await DaemonNode.StartAsync(db.ConnectionString, "solo", [counter], o => o.BatchSize = 7);

        var streams = NewStreams(10);
        await Task.WhenAll(Enumerable.Range(0, 8).Select(w => Task.Run(async () =>
        {
            for (var i = 0; i < 25; i++)
            {
                await writer.Store.AppendToStreamAsync(streams[(w + i) % streams.Length], ExpectedVersion.Any, Events.Many(1 + (i % 3)), Ct);
            }
        }, Ct)));

        await Eventually.HoldsAsync(() => counter.MatchesReferenceAsync(writer.DataSource), "the model counts every stored event");
        var feed = new List<long>();
        for (var page = await writer.Store.ReadFeedAsync(FeedCursor.Start, 1000, cancellationToken: Ct); page.Events.Count > 0;
             page = await writer.Store.ReadFeedAsync(page.Next, 1000, cancellationToken: Ct))
        {
            feed.AddRange(page.Events.Select(e => e.Position));
        }

        Assert.Equal(feed, await counter.ReadLogAsync(writer.DataSource));
        var status = Assert.Single(await new ProjectionAdmin(writer.DataSource).GetStatusAsync(Ct));
        Assert.Equal(ProjectionState.Running, status.State);
        Assert.Equal("solo", status.OwnerNode);
        Assert.Equal(0, status.LagEvents);
    }

    [Fact]
    public async Task An_append_that_commits_late_is_never_passed_and_is_applied_exactly_once_after_its_commit()
    {
        await using var db = await database.CreateDatabaseAsync(Ct);
        await using var writer = await Node.StartAsync(db.ConnectionString);
        var counter = new StreamCounter("patient");
        await counter.CreateTablesAsync(writer.DataSource);
        var admin = new ProjectionAdmin(writer.DataSource);
        await using var node = await DaemonNode.StartAsync(db.ConnectionString, "solo", [counter]);
        var first = await writer.Store.AppendToStreamAsync(Events.NewStream(), ExpectedVersion.Any, Events.Many(2), Ct);
        await Eventually.HoldsAsync(async () => (await counter.ReadLogAsync(writer.DataSource)).Count == 2, "the first events are applied");

        // The held append draws its positions, then stays uncommitted while later appends commit above it.
        await using var held = await HeldAppend.StartAsync(writer, Events.NewStream("HELD"), 3);
        var later = new List<AppendResult>();
        for (var i = 0; i < 5; i++) later.Add(await writer.Store.AppendToStreamAsync(Events.NewStream(), ExpectedVersion.Any, Events.Many(2), Ct));
        Assert.True(later.SelectMany(r => r.Events).All(e => e.Position > held.Positions[^1]), "the later appends drew higher positions");

        // Marten's detector has seen the gap the open transaction leaves (its HighWaterStuckGap row), and then the gap
        // has stayed stale for six times its 500 ms threshold (by the database's clock): long enough that a detector
        // which took the open transaction's positions for a dead hole would have skipped them (the rolled-back test
        // below sees a real hole passed about 1 s after the rollback). This wait gives the failure a chance; what
        // passes or fails is only what the projection shows.
        await Eventually.HoldsAsync(async () => await StuckGapAsync(writer.DataSource) == held.Positions[0] - 1,
            "the high-water detector has seen the gap before the open transaction's positions");
        var staleUntil = await Db.ScalarAsync<DateTime>(writer.DataSource, "select clock_timestamp() + interval '3 seconds'");
        await Eventually.HoldsAsync(() => Db.ScalarAsync<bool>(writer.DataSource, "select clock_timestamp() > @until",
            new NpgsqlParameter<DateTime>("until", staleUntil)), "the gap has been stale for six stale thresholds");
        Assert.False(await Db.ScalarAsync<bool>(writer.DataSource,
            "select exists (select 1 from ledger.mt_high_water_skips where ending_sequence >= @first)",
            new NpgsqlParameter<long>("first", held.Positions[0])), "Marten skipped the open transaction's positions");
        var status = (await admin.GetStatusAsync("patient", Ct))!;
        Assert.Equal(first.Events.Select(e => e.Position), await counter.ReadLogAsync(writer.DataSource));
        Assert.True(status.Cursor.Position < held.Positions[0], $"cursor {status.Cursor} passed the held position {held.Positions[0]}");
        Assert.Equal(ProjectionState.Running, status.State);

        await held.CommitAsync();
        await Eventually.HoldsAsync(() => counter.MatchesReferenceAsync(writer.DataSource), "the model counts every stored event");
        Assert.Equal(
            first.Events.Select(e => e.Position).Concat(held.Positions).Concat(later.SelectMany(r => r.Events).Select(e => e.Position)),
            await counter.ReadLogAsync(writer.DataSource));
        Assert.Equal(ProjectionState.Running, (await admin.GetStatusAsync("patient", Ct))!.State);
    }

    [Fact]
    public async Task A_rolled_back_append_leaves_a_hole_that_holds_the_projection_only_until_marten_proves_it_dead()
    {
        await using var db = await database.CreateDatabaseAsync(Ct);
        await using var writer = await Node.StartAsync(db.ConnectionString);
        var counter = new StreamCounter("holed");
        await counter.CreateTablesAsync(writer.DataSource);
        await using var node = await DaemonNode.StartAsync(db.ConnectionString, "solo", [counter]);
        var first = await writer.Store.AppendToStreamAsync(Events.NewStream(), ExpectedVersion.Any, Events.Many(2), Ct);
        await Eventually.HoldsAsync(async () => (await counter.ReadLogAsync(writer.DataSource)).Count == 2, "the first events are applied");

        var hole = await HeldAppend.StartAsync(writer, Events.NewStream("HOLE"), 2);
        await hole.RollbackAsync();
        await hole.DisposeAsync();
        var sinceRollback = System.Diagnostics.Stopwatch.StartNew();
        var after = await writer.Store.AppendToStreamAsync(Events.NewStream(), ExpectedVersion.Any, Events.Many(3), Ct);
        Assert.True(after.Events[0].Position > hole.Positions[^1], "the later append drew positions above the hole");

        await Eventually.HoldsAsync(async () => (await counter.ReadLogAsync(writer.DataSource)).Count == 5,
            "the projection passes the hole and applies the later append");
        TestContext.Current.TestOutputHelper?.WriteLine(
            $"hole at {hole.Positions[0]}-{hole.Positions[^1]}: the append after it was applied {sinceRollback.ElapsedMilliseconds} ms after the rollback");

        Assert.Equal(first.Events.Select(e => e.Position).Concat(after.Events.Select(e => e.Position)), await counter.ReadLogAsync(writer.DataSource));
        Assert.True(await Db.ScalarAsync<bool>(writer.DataSource,
            "select exists (select 1 from ledger.mt_high_water_skips where starting_sequence < @first and ending_sequence >= @last)",
            new NpgsqlParameter<long>("first", hole.Positions[0]), new NpgsqlParameter<long>("last", hole.Positions[^1])),
            "Marten recorded skipping the hole");
        Assert.Equal(ProjectionState.Running, (await new ProjectionAdmin(writer.DataSource).GetStatusAsync("holed", Ct))!.State);
    }

    private static async Task<long?> StuckGapAsync(NpgsqlDataSource dataSource)
    {
        await using var command = dataSource.CreateCommand("select last_seq_id from ledger.mt_event_progression where name = 'HighWaterStuckGap'");
        return await command.ExecuteScalarAsync(Ct) as long?;
    }

    [Fact]
    public async Task Three_nodes_keep_one_owner_per_projection_and_a_killed_owner_hands_over_without_applying_anything_twice()
    {
        await using var db = await database.CreateDatabaseAsync(Ct);
        await using var writer = await Node.StartAsync(db.ConnectionString);
        StreamCounter[] counters = [new("alpha"), new("beta"), new("gamma")];
        foreach (var c in counters) await c.CreateTablesAsync(writer.DataSource);
        var names = counters.Select(c => c.Name).ToArray();
        await using var a = await DaemonNode.StartAsync(db.ConnectionString, "node-a", counters);
        await using var b = await DaemonNode.StartAsync(db.ConnectionString, "node-b", counters);
        await using var c3 = await DaemonNode.StartAsync(db.ConnectionString, "node-c", counters);
        DaemonNode[] nodes = [a, b, c3];
        await using var writers = new Writers(writer.Store, 6, NewStreams(12));

        // Watch ownership the whole time: never two sessions holding one projection's lock.
        using var watching = new CancellationTokenSource();
        var maxHolders = 0;
        var watcher = Task.Run(async () =>
        {
            while (!watching.IsCancellationRequested)
            {
                var holders = await Db.LockHoldersAsync(writer.DataSource, names);
                maxHolders = Math.Max(maxHolders, holders.Values.Max(h => h.Count));
                await Task.Delay(20, CancellationToken.None);
            }
        }, Ct);

        // Three projections on three nodes settle at one each (the first node to start takes all, then gives two up).
        var victimApp = "";
        await Eventually.HoldsAsync(async () =>
        {
            var holders = await Db.LockHoldersAsync(writer.DataSource, names);
            if (!holders.Values.All(h => h.Count == 1) || holders.Values.Select(h => h[0]).Distinct().Count() != 3) return false;
            victimApp = holders["alpha"][0];
            return true;
        }, "each node owns one projection");
        await Eventually.HoldsAsync(async () => (await counters[0].ReadCountsAsync(writer.DataSource)).Count > 0, "alpha has applied events");

        var victim = nodes.Single(n => n.ApplicationName == victimApp);
        await victim.KillConnectionsAsync(writer.DataSource);

        await Eventually.HoldsAsync(async () =>
            (await Db.LockHoldersAsync(writer.DataSource, names))["alpha"] is [var holder] && holder != victimApp,
            "another node owns alpha", TimeSpan.FromSeconds(15));
        var admin = new ProjectionAdmin(writer.DataSource);
        var progressAfterFailover = (await admin.GetStatusAsync("alpha", Ct))!.Cursor;
        await Eventually.HoldsAsync(async () => (await admin.GetStatusAsync("alpha", Ct))!.Cursor > progressAfterFailover,
            "alpha makes progress under its new owner");

        await writers.StopAsync();
        foreach (var counter in counters)
        {
            await Eventually.HoldsAsync(() => counter.MatchesReferenceAsync(writer.DataSource), $"{counter.Name} counts every stored event");
            var log = await counter.ReadLogAsync(writer.DataSource);
            Assert.Equal(log.Count, log.Distinct().Count());
        }

        await watching.CancelAsync();
        await watcher;
        Assert.Equal(1, maxHolders);
        Assert.True(writers.Appends > 0);
        Assert.All(await admin.GetStatusAsync(Ct), s => Assert.Equal(ProjectionState.Running, s.State));
    }

    [Fact]
    public async Task Ownership_spreads_evenly_across_the_live_nodes()
    {
        await using var db = await database.CreateDatabaseAsync(Ct);
        await using var writer = await Node.StartAsync(db.ConnectionString);
        StreamCounter[] counters = [new("p1"), new("p2"), new("p3"), new("p4")];
        foreach (var c in counters) await c.CreateTablesAsync(writer.DataSource);
        var names = counters.Select(c => c.Name).ToArray();

        await using var first = await DaemonNode.StartAsync(db.ConnectionString, "first", counters);
        await Eventually.HoldsAsync(() => Task.FromResult(first.Daemon.OwnedProjections.Count == 4), "a lone node owns every projection");

        await using var second = await DaemonNode.StartAsync(db.ConnectionString, "second", counters);
        await Eventually.HoldsAsync(async () =>
        {
            var holders = await Db.LockHoldersAsync(writer.DataSource, names);
            return holders.Values.All(h => h.Count == 1)
                && holders.Values.Count(h => h[0] == first.ApplicationName) == 2
                && holders.Values.Count(h => h[0] == second.ApplicationName) == 2;
        }, "each of two nodes owns two projections");

        var statuses = await new ProjectionAdmin(writer.DataSource).GetStatusAsync(Ct);
        Assert.Equal(2, statuses.Count(s => s.OwnerNode == "first"));
        Assert.Equal(2, statuses.Count(s => s.OwnerNode == "second"));
    }

    [Fact]
    public async Task A_throwing_projection_stops_at_the_exact_event_and_continues_after_a_retry_once_fixed()
    {
        await using var db = await database.CreateDatabaseAsync(Ct);
        await using var writer = await Node.StartAsync(db.ConnectionString);
        var broken = true;
        var counter = new StreamCounter("fragile") { FailOn = e => broken && e.Data.Contains("poison", StringComparison.Ordinal) };
        await counter.CreateTablesAsync(writer.DataSource);
        var stream = Events.NewStream();
        var before = await writer.Store.AppendToStreamAsync(stream, ExpectedVersion.Any, Events.Many(5), Ct);
        var poison = await writer.Store.AppendToStreamAsync(stream, ExpectedVersion.Any, [Events.Make(data: """{"poison":true}""")], Ct);
        await writer.Store.AppendToStreamAsync(stream, ExpectedVersion.Any, Events.Many(4), Ct);
        var admin = new ProjectionAdmin(writer.DataSource);

        await using var node = await DaemonNode.StartAsync(db.ConnectionString, "solo", [counter]);
        await Eventually.HoldsAsync(async () => (await admin.GetStatusAsync("fragile", Ct))?.State == ProjectionState.Failed, "the projection has failed");

        var failed = (await admin.GetStatusAsync("fragile", Ct))!;
        Assert.Equal(poison.Events[0].EventId, failed.Failure!.EventId);
        Assert.Equal(poison.Events[0].Position, failed.Failure.Position);
        Assert.Contains("cannot count event", failed.Failure.Error, StringComparison.Ordinal);
        Assert.Equal(await admin.CursorOfPositionAsync(before.Events[^1].Position, Ct), failed.Cursor);
        Assert.Equal(5, (await counter.ReadCountsAsync(writer.DataSource))[stream]);
        Assert.Equal(5, failed.LagEvents);

        broken = false;
        Assert.True(await admin.RetryAsync("fragile", Ct));
        await Eventually.HoldsAsync(async () => (await counter.ReadCountsAsync(writer.DataSource)).GetValueOrDefault(stream) == 10, "every event is counted");
        var status = (await admin.GetStatusAsync("fragile", Ct))!;
        Assert.Equal(ProjectionState.Running, status.State);
        Assert.Null(status.Failure);
        Assert.False(await admin.RetryAsync("fragile", Ct), "a running projection has nothing to retry");
    }

    [Fact]
    public async Task Skipping_moves_past_exactly_the_failed_event_and_records_who_skipped_it()
    {
        await using var db = await database.CreateDatabaseAsync(Ct);
        await using var writer = await Node.StartAsync(db.ConnectionString);
        var counter = new StreamCounter("stubborn") { FailOn = e => e.Data.Contains("poison", StringComparison.Ordinal) };
        await counter.CreateTablesAsync(writer.DataSource);
        var stream = Events.NewStream();
        await writer.Store.AppendToStreamAsync(stream, ExpectedVersion.Any, Events.Many(3), Ct);
        var poison = await writer.Store.AppendToStreamAsync(stream, ExpectedVersion.Any, [Events.Make(data: """{"poison":true}""")], Ct);
        await writer.Store.AppendToStreamAsync(stream, ExpectedVersion.Any, Events.Many(6), Ct);
        var admin = new ProjectionAdmin(writer.DataSource);
        Assert.Null(await admin.SkipAsync("stubborn", "alice", Ct));

        await using var node = await DaemonNode.StartAsync(db.ConnectionString, "solo", [counter]);
        await Eventually.HoldsAsync(async () => (await admin.GetStatusAsync("stubborn", Ct))?.State == ProjectionState.Failed, "the projection has failed");

        var skipped = await admin.SkipAsync("stubborn", "alice", Ct);

        Assert.Equal(poison.Events[0].EventId, skipped!.EventId);
        await Eventually.HoldsAsync(async () => (await counter.ReadCountsAsync(writer.DataSource)).GetValueOrDefault(stream) == 9,
            "every event but the skipped one is counted");
        Assert.DoesNotContain(poison.Events[0].Position, await counter.ReadLogAsync(writer.DataSource));
        Assert.Equal(ProjectionState.Running, (await admin.GetStatusAsync("stubborn", Ct))!.State);
        Assert.Equal(1L, await Db.ScalarAsync<long>(writer.DataSource,
            "select count(*) from ledger.projection_skips where name = 'stubborn' and skipped_by = 'alice' and event_id = @id and error like '%cannot count%'",
            new NpgsqlParameter<Guid>("id", poison.Events[0].EventId)));
    }

    [Fact]
    public async Task A_rebuild_during_ingest_replaces_the_model_with_a_replay_while_the_live_table_keeps_answering()
    {
        await using var db = await database.CreateDatabaseAsync(Ct);
        await using var writer = await Node.StartAsync(db.ConnectionString);
        var counter = new StreamCounter("rebuilt") { RebuildBatchDelay = TimeSpan.FromMilliseconds(20) };
        await counter.CreateTablesAsync(writer.DataSource);
        var streams = NewStreams(20);
        foreach (var stream in streams) await writer.Store.AppendToStreamAsync(stream, ExpectedVersion.Any, Events.Many(60), Ct);
        var admin = new ProjectionAdmin(writer.DataSource);
        await using var node = await DaemonNode.StartAsync(db.ConnectionString, "solo", [counter], o => o.RebuildBatchSize = 50);
        await Eventually.HoldsAsync(() => counter.MatchesReferenceAsync(writer.DataSource), "the live model has caught up");

        // Damage the live model: only a replay from the start can repair it.
        await Db.ScalarAsync<int>(writer.DataSource, $"with u as (update {counter.CountsTable} set events = events + 1000 returning 1) select count(*)::int from u");
        // Bounded ingest: the replay here is slowed below the write rate, and a replay slower than ingest chases the live
        // cursor for as long as that lasts (see docs/projections.md).
        await using var writers = new Writers(writer.Store, 3, streams, appendsPerWriter: 150);
        using var reading = new CancellationTokenSource();
        long answered = 0;
        var queries = Task.Run(async () =>
        {
            while (!reading.IsCancellationRequested)
            {
                await Db.ScalarAsync<long>(writer.DataSource, $"select coalesce(sum(events), 0)::bigint from {counter.CountsTable}");
                answered++;
            }
        }, Ct);

        Assert.True(await admin.RequestRebuildAsync("rebuilt", Ct));
        Assert.False(await admin.RequestRebuildAsync("rebuilt", Ct), "a second request while one is pending changes nothing");
        RebuildProgress? seen = null;
        long appendsWhenSeen = 0;
        await Eventually.HoldsAsync(async () =>
        {
            var status = (await admin.GetStatusAsync("rebuilt", Ct))!;
            if (status.Rebuild is { StartedAt: not null, EventsDone: > 0 } progress && seen is null)
            {
                seen = progress;
                appendsWhenSeen = writers.Appends;
            }

            return status.Rebuild is null && status.LastRebuildFinishedAt is not null;
        }, "the rebuild has finished", TimeSpan.FromSeconds(60));

        await writers.StopAsync();
        await Eventually.HoldsAsync(() => counter.MatchesReferenceAsync(writer.DataSource), "the rebuilt model counts every stored event");
        await reading.CancelAsync();
        await queries;

        Assert.True(answered > 0);
        Assert.NotNull(seen);
        Assert.True(seen.EventsTotal >= 1200, $"total {seen.EventsTotal}");
        Assert.True(seen.EventsPerSecond > 0);
        Assert.True(writers.Appends > appendsWhenSeen, "events were appended while the rebuild ran");
        var log = await counter.ReadLogAsync(writer.DataSource);
        Assert.Equal(log.Count, log.Distinct().Count());
        Assert.True(await Db.ScalarAsync<bool>(writer.DataSource,
            "select to_regclass('tests.rebuilt_counts__rebuild') is null and to_regclass('tests.rebuilt_counts__old') is null"),
            "no shadow or retired table is left behind");
        Assert.Equal(ProjectionState.Running, (await admin.GetStatusAsync("rebuilt", Ct))!.State);
    }

    [Fact]
    public async Task Waiting_for_a_position_returns_once_the_projection_has_applied_it()
    {
        await using var db = await database.CreateDatabaseAsync(Ct);
        await using var writer = await Node.StartAsync(db.ConnectionString);
        var counter = new StreamCounter("fresh");
        await counter.CreateTablesAsync(writer.DataSource);
        var admin = new ProjectionAdmin(writer.DataSource);
        var stream = Events.NewStream();
        var appended = await writer.Store.AppendToStreamAsync(stream, ExpectedVersion.Any, Events.Many(3), Ct);
        var target = (await admin.CursorOfPositionAsync(appended.Events[^1].Position, Ct))!.Value;
        Assert.Null(await admin.CursorOfPositionAsync(-1, Ct));

        Assert.False(await admin.WaitForAsync("fresh", target, TimeSpan.FromMilliseconds(50), Ct), "no daemon runs yet");
        await using var node = await DaemonNode.StartAsync(db.ConnectionString, "solo", [counter]);

        Assert.True(await admin.WaitForAsync("fresh", target, TimeSpan.FromSeconds(30), Ct));
        Assert.Equal(3, (await counter.ReadCountsAsync(writer.DataSource))[stream]);
    }
}

/// <summary>
/// The checkpoint guard on its own, without the ownership lock: what protects the model when a stale owner (one whose
/// session was lost mid-batch) is still finishing a batch as the new owner starts.
/// </summary>
public sealed class ProjectionCheckpointGuardTests(DatabaseFixture database) : IClassFixture<DatabaseFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Two_runners_that_both_believe_they_own_a_projection_never_apply_an_event_twice()
    {
        await using var db = await database.CreateDatabaseAsync(Ct);
        await using var writer = await Node.StartAsync(db.ConnectionString);
        await using var other = await Node.StartAsync(db.ConnectionString);
        var counter = new StreamCounter("contested");
        await counter.CreateTablesAsync(writer.DataSource);
        var options = new ProjectionDaemonOptions { BatchSize = 5 };
        ProjectionRunner[] runners =
        [
            new(writer.DataSource, counter, options, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance),
            new(other.DataSource, counter, options, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance),
        ];
        var streams = Enumerable.Range(0, 5).Select(_ => Events.NewStream()).ToArray();
        // A backlog first, so that both runners read the same pages at the same time.
        foreach (var stream in streams) await writer.Store.AppendToStreamAsync(stream, ExpectedVersion.Any, Events.Many(60), Ct);
        await using (var writers = new Writers(writer.Store, 4, streams, appendsPerWriter: 60))
        {
            using var running = new CancellationTokenSource();
            var loops = runners.Select(r => Task.Run(async () =>
            {
                while (!running.IsCancellationRequested) await r.RunOnceAsync(CancellationToken.None);
            }, Ct)).ToArray();

            await writers.StopAsync();
            await Eventually.HoldsAsync(() => counter.MatchesReferenceAsync(writer.DataSource), "the model counts every stored event");
            await running.CancelAsync();
            await Task.WhenAll(loops);
        }

        var log = await counter.ReadLogAsync(writer.DataSource);
        Assert.Equal(log.Count, log.Distinct().Count());
        Assert.Equal(await writer.CountEventsAsync(), log.Count);
        Assert.Equal(ProjectionState.Running, (await new ProjectionAdmin(writer.DataSource).GetStatusAsync("contested", Ct))!.State);
    }
}
