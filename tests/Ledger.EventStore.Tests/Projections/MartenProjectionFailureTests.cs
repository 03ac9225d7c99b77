using Ledger.EventStore.Projections;
using Ledger.EventStore.Tests.Support;
using Ledger.Testing;
using Npgsql;

namespace Ledger.EventStore.Tests.Projections;

/// <summary>
/// The operator's side of read models on Marten's async daemon (issue 12): a read model that throws stops at the exact
/// event on every node until an operator retries or skips it (skips audited), infrastructure faults are retried without
/// stopping it, read-your-writes waits on Marten's progression, and the status shows where each read model stands.
/// </summary>
public sealed class MartenProjectionFailureTests(DatabaseFixture database) : IClassFixture<DatabaseFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static EventData Poison() => Events.Make(data: """{"poison":true}""");

    private static bool IsPoison(RecordedEvent e) => e.Data.Contains("poison", StringComparison.Ordinal);

    private static void Print(string text) => TestContext.Current.TestOutputHelper?.WriteLine(text);

    [Fact]
    public async Task A_throwing_projection_stops_at_the_exact_event_and_continues_after_a_retry_once_fixed()
    {
        await using var db = await database.CreateDatabaseAsync(Ct);
        var log = new CapturedLog();
        var broken = true;
        var counter = new MartenCounter("fragile") { FailOn = e => broken && IsPoison(e) };
        await using var writer = await Node.StartAsync(db.ConnectionString);
        await counter.CreateTablesAsync(writer.DataSource);
        var stream = Events.NewStream();
        var before = await writer.Store.AppendToStreamAsync(stream, ExpectedVersion.Any, Events.Many(5), Ct);
        var poison = await writer.Store.AppendToStreamAsync(stream, ExpectedVersion.Any, [Poison()], Ct);
        var after = await writer.Store.AppendToStreamAsync(stream, ExpectedVersion.Any, Events.Many(4), Ct);
        var admin = new ProjectionAdmin(writer.DataSource);

        await using var node = await MartenNode.StartAsync(db.ConnectionString, "solo", log, counter);
        await Eventually.HoldsAsync(async () => (await admin.GetStatusAsync("fragile", Ct))?.State == ProjectionState.Failed, "the projection has failed");

        var failed = (await admin.GetStatusAsync("fragile", Ct))!;
        Assert.Equal(poison.Events[0].EventId, failed.Failure!.EventId);
        Assert.Equal(poison.Events[0].Position, failed.Failure.Position);
        Assert.Contains("cannot count event", failed.Failure.Error, StringComparison.Ordinal);
        Assert.False(failed.Failure.DuringRebuild);
        // Nothing at or after the failed event is applied; what came before it in its batch waits with it.
        Assert.True(failed.Cursor.Position < poison.Events[0].Position, $"the cursor {failed.Cursor} stays before the failed event");
        var applied = await counter.ReadLogAsync(writer.DataSource);
        Assert.All(applied, p => Assert.True(p < poison.Events[0].Position));
        Assert.Equal(10 - applied.Count, failed.LagEvents);

        // Marten's coordinator starts the paused shard again at its health check (every 5 s): it stays stopped, because
        // the base refuses every batch while the row says failed.
        await Eventually.HoldsAsync(() => Task.FromResult(log.Logged<ProjectionStoppedException>("solo")), "Marten has tried the stopped shard again");
        Assert.Equal(applied, await counter.ReadLogAsync(writer.DataSource));
        Assert.Equal(ProjectionState.Failed, (await admin.GetStatusAsync("fragile", Ct))!.State);
        // With SkipApplyErrors off Marten dead-letters nothing: the skip is the operator's, recorded with who (docs).
        Assert.Equal(0L, await Db.ScalarAsync<long>(writer.DataSource, "select count(*) from ledger.mt_doc_deadletterevent"));
        Print(await MartenNode.DescribeAsync(writer.DataSource));
        Print(log.Tail(20));

        broken = false;
        Assert.True(await admin.RetryAsync("fragile", Ct));
        Assert.True(await admin.WaitForAsync("fragile", new FeedCursor(after.Events[^1].Position), TimeSpan.FromMinutes(1), Ct),
            $"the retried projection catches up\n{await MartenNode.DescribeAsync(writer.DataSource)}\n{log.Tail(30)}");
        Assert.Equal(10, (await counter.ReadCountsAsync(writer.DataSource))[stream]);
        Assert.Equal([.. before.Events.Concat(poison.Events).Concat(after.Events).Select(e => e.Position)], await counter.ReadLogAsync(writer.DataSource));
        var status = (await admin.GetStatusAsync("fragile", Ct))!;
        Assert.Equal(ProjectionState.Running, status.State);
        Assert.Null(status.Failure);
        Assert.Equal(0, status.LagEvents);
        Assert.Equal(TimeSpan.Zero, status.Lag);
        Assert.Equal(new FeedCursor(after.Events[^1].Position), status.Cursor);
        Assert.Equal("solo", status.OwnerNode);
        Assert.False(await admin.RetryAsync("fragile", Ct), "a running projection has nothing to retry");
    }

    [Fact]
    public async Task Skipping_moves_past_exactly_the_failed_event_and_records_who_skipped_it()
    {
        await using var db = await database.CreateDatabaseAsync(Ct);
        var log = new CapturedLog();
        var counter = new MartenCounter("stubborn") { FailOn = IsPoison };
        await using var writer = await Node.StartAsync(db.ConnectionString);
        await counter.CreateTablesAsync(writer.DataSource);
        var admin = new ProjectionAdmin(writer.DataSource);
        Assert.Null(await admin.SkipAsync("stubborn", "alice", Ct));
        await using var node = await MartenNode.StartAsync(db.ConnectionString, "solo", log, counter);
        var stream = Events.NewStream();
        var first = await writer.Store.AppendToStreamAsync(stream, ExpectedVersion.Any, Events.Many(3), Ct);
        Assert.True(await admin.WaitForAsync("stubborn", new FeedCursor(first.Events[^1].Position), TimeSpan.FromMinutes(1), Ct));

        // One append, so Marten hands the two events before the poison, the poison and the six after it in one batch.
        var second = await writer.Store.AppendToStreamAsync(stream, ExpectedVersion.Any, [.. Events.Many(2), Poison(), .. Events.Many(6)], Ct);
        var poison = second.Events[2];
        await Eventually.HoldsAsync(async () => (await admin.GetStatusAsync("stubborn", Ct))?.State == ProjectionState.Failed, "the projection has failed");
        var failed = (await admin.GetStatusAsync("stubborn", Ct))!;
        Assert.Equal(new FeedCursor(first.Events[^1].Position), failed.Cursor);
        Assert.Equal(9, failed.LagEvents);
        Assert.Equal(poison.Position, failed.Failure!.Position);

        // A recorded failure that names an event the projection has passed is refused, and nothing changes.
        await using (var tamper = writer.DataSource.CreateCommand(
            "update ledger.projection_checkpoints set failed_position = @position, failed_event_id = @id where name = 'stubborn'"))
        {
            tamper.Parameters.Add(new NpgsqlParameter<long>("position", first.Events[0].Position));
            tamper.Parameters.Add(new NpgsqlParameter<Guid>("id", first.Events[0].EventId));
            await tamper.ExecuteNonQueryAsync(Ct);
        }

        await Assert.ThrowsAsync<SkipRefusedException>(() => admin.SkipAsync("stubborn", "mallory", Ct));
        Assert.Equal(0L, await Db.ScalarAsync<long>(writer.DataSource, "select count(*) from ledger.projection_skips"));
        Assert.Equal(ProjectionState.Failed, (await admin.GetStatusAsync("stubborn", Ct))!.State);
        await using (var restore = writer.DataSource.CreateCommand(
            "update ledger.projection_checkpoints set failed_position = @position, failed_event_id = @id where name = 'stubborn'"))
        {
            restore.Parameters.Add(new NpgsqlParameter<long>("position", poison.Position));
            restore.Parameters.Add(new NpgsqlParameter<Guid>("id", poison.EventId));
            await restore.ExecuteNonQueryAsync(Ct);
        }

        var skipped = await admin.SkipAsync("stubborn", "alice", Ct);

        Assert.Equal(poison.EventId, skipped!.EventId);
        Assert.Equal(poison.Position, skipped.Position);
        Assert.True(await admin.WaitForAsync("stubborn", new FeedCursor(second.Events[^1].Position), TimeSpan.FromMinutes(1), Ct),
            $"the projection continues past the skipped event\n{await MartenNode.DescribeAsync(writer.DataSource)}\n{log.Tail(30)}");
        Assert.Equal(11, (await counter.ReadCountsAsync(writer.DataSource))[stream]);
        Assert.Equal([.. first.Events.Concat(second.Events).Where(e => e.EventId != poison.EventId).Select(e => e.Position)],
            await counter.ReadLogAsync(writer.DataSource));
        var status = (await admin.GetStatusAsync("stubborn", Ct))!;
        Assert.Equal(ProjectionState.Running, status.State);
        Assert.Equal(0, status.LagEvents);
        Assert.Null(await admin.SkipAsync("stubborn", "alice", Ct));
        Assert.Equal(1L, await Db.ScalarAsync<long>(writer.DataSource,
            "select count(*) from ledger.projection_skips where name = 'stubborn' and skipped_by = 'alice' and event_id = @id and position = @position and error like '%cannot count%'",
            new NpgsqlParameter<Guid>("id", poison.EventId), new NpgsqlParameter<long>("position", poison.Position)));
        Assert.Equal(1L, await Db.ScalarAsync<long>(writer.DataSource, "select count(*) from ledger.projection_skips"));
    }

    [Fact]
    public async Task Waiting_for_a_position_returns_once_the_projection_has_applied_it()
    {
        await using var db = await database.CreateDatabaseAsync(Ct);
        var counter = new MartenCounter("fresh");
        await using var writer = await Node.StartAsync(db.ConnectionString);
        await counter.CreateTablesAsync(writer.DataSource);
        var admin = new ProjectionAdmin(writer.DataSource);
        var stream = Events.NewStream();
        var appended = await writer.Store.AppendToStreamAsync(stream, ExpectedVersion.Any, Events.Many(3), Ct);
        var target = (await admin.CursorOfPositionAsync(appended.Events[^1].Position, Ct))!.Value;
        Assert.Null(await admin.CursorOfPositionAsync(-1, Ct));

        Assert.False(await admin.WaitForAsync("fresh", target, TimeSpan.FromMilliseconds(50), Ct), "no daemon runs yet");
        await using var node = await MartenNode.StartAsync(db.ConnectionString, "solo", new CapturedLog(), counter);

        Assert.True(await admin.WaitForAsync("fresh", target, TimeSpan.FromMinutes(1), Ct));
        Assert.Equal(3, (await counter.ReadCountsAsync(writer.DataSource))[stream]);
        Assert.Equal(target.Position, await Db.ScalarAsync<long>(writer.DataSource,
            "select last_seq_id from ledger.mt_event_progression where name = 'fresh:All'"));
    }

    [Fact]
    public async Task A_read_model_is_listed_as_running_at_the_start_before_any_event()
    {
        await using var db = await database.CreateDatabaseAsync(Ct);
        var counter = new MartenCounter("empty");
        await using var writer = await Node.StartAsync(db.ConnectionString);
        await counter.CreateTablesAsync(writer.DataSource);
        var admin = new ProjectionAdmin(writer.DataSource);
        Assert.Null(await admin.GetStatusAsync("empty", Ct));

        await using var node = await MartenNode.StartAsync(db.ConnectionString, "solo", new CapturedLog(), counter);

        await Eventually.HoldsAsync(async () => await admin.GetStatusAsync("empty", Ct) is not null, "the node has given the read model its row");
        var status = (await admin.GetStatusAsync("empty", Ct))!;
        Assert.Equal(ProjectionState.Running, status.State);
        Assert.Equal(FeedCursor.Start, status.Cursor);
        Assert.Equal(0, status.LagEvents);
        Assert.Null(status.Failure);
        Assert.Null(status.OwnerNode);
    }

    [Fact]
    public async Task An_operator_notification_runs_the_maintenance_hooks_for_that_read_model_on_the_node_that_runs_it()
    {
        await using var db = await database.CreateDatabaseAsync(Ct);
        var counter = new MartenCounter("hooked");
        var other = new MartenCounter("bystander");
        await using var writer = await Node.StartAsync(db.ConnectionString);
        await counter.CreateTablesAsync(writer.DataSource);
        await other.CreateTablesAsync(writer.DataSource);
        var wakeUps = new RecordingMaintenance();
        await using var node = await MartenNode.StartAsync(db.ConnectionString, "solo", new CapturedLog(), [counter, other], [wakeUps]);
        var appended = await writer.Store.AppendToStreamAsync(Events.NewStream(), ExpectedVersion.Any, Events.Many(2), Ct);
        Assert.True(await new ProjectionAdmin(writer.DataSource).WaitForAsync("hooked", new FeedCursor(appended.Events[^1].Position), TimeSpan.FromMinutes(1), Ct));
        // The first wake-up comes once the supervisor listens, for every read model (possibly before Marten's daemon has
        // started the shards); a notification sent after it cannot be missed.
        await Eventually.HoldsAsync(() => Task.FromResult(wakeUps.Seen.Any(w => w.Name == "hooked") && wakeUps.Seen.Any(w => w.Name == "bystander")),
            "the supervisor's first wake-up has run the hooks for every read model");
        Assert.DoesNotContain(wakeUps.Seen, w => w.Notified);

        await Db.ScalarAsync<string>(writer.DataSource, "select pg_notify('ledger_projections', 'hooked')::text");

        await Eventually.HoldsAsync(() => Task.FromResult(wakeUps.Seen.Any(w => w.Notified)), "the notification woke the supervisor");
        var notified = Assert.Single(wakeUps.Seen, w => w.Notified);
        Assert.Equal("hooked", notified.Name);
        Assert.Equal("hooked:All", notified.ShardName);
        Assert.True(notified.RunsHere, "the only node runs the shard");
        Assert.NotNull(notified.Daemon);
    }

    [Fact]
    public async Task A_failure_stays_stopped_on_every_node_until_a_retry_from_anywhere_restarts_it()
    {
        await using var db = await database.CreateDatabaseAsync(Ct);
        var log = new CapturedLog();
        var broken = true;
        await using var writer = await Node.StartAsync(db.ConnectionString);
        var counters = new[] { "a", "b" }.ToDictionary(n => n, _ => new MartenCounter("shared") { FailOn = e => broken && IsPoison(e) });
        await counters["a"].CreateTablesAsync(writer.DataSource);
        var stream = Events.NewStream();
        var first = await writer.Store.AppendToStreamAsync(stream, ExpectedVersion.Any, [.. Events.Many(4), Poison(), .. Events.Many(3)], Ct);
        var poison = first.Events[4];
        var nodes = new Dictionary<string, Node>
        {
            ["a"] = await MartenNode.StartAsync(db.ConnectionString, "a", log, counters["a"]),
            ["b"] = await MartenNode.StartAsync(db.ConnectionString, "b", log, counters["b"]),
        };
        try
        {
            var admin = new ProjectionAdmin(writer.DataSource);
            await Eventually.HoldsAsync(async () => (await admin.GetStatusAsync("shared", Ct))?.State == ProjectionState.Failed, "the projection has failed");
            // The row says failed before the batch throws; Marten logs the throw after: wait for the log, not just the row.
            await Eventually.HoldsAsync(() => Task.FromResult(nodes.Keys.Any(n => log.Logged<ProjectionFailedException>(n))), "Marten has logged the failed batch");
            var leader = nodes.Keys.Single(n => log.Logged<ProjectionFailedException>(n));
            var follower = nodes.Keys.Single(n => n != leader);

            // Marten starts the paused shard again on the node that holds it (its health check): a paused shard keeps its
            // HotCold lock, and the other node does not take it while the owner lives.
            await Eventually.HoldsAsync(() => Task.FromResult(log.Logged<ProjectionStoppedException>(leader)),
                "Marten has restarted the paused shard on its node", () => Task.FromResult(log.Tail(30)), TimeSpan.FromMinutes(1));
            Assert.Equal(["ledger-" + leader], await MartenNode.LockHoldersAsync(writer.DataSource, "shared"));
            Assert.False(log.Logged<ProjectionStoppedException>(follower));

            // The node that ran it goes away; the other takes over Marten's daemon and starts the shard: it stays stopped.
            await nodes[leader].DisposeAsync();
            nodes.Remove(leader);
            await Eventually.HoldsAsync(() => Task.FromResult(log.Logged<ProjectionStoppedException>(follower)),
                "the other node has tried the stopped shard", () => Task.FromResult(log.Tail(30)), TimeSpan.FromMinutes(1));
            Assert.Empty(await counters["a"].ReadLogAsync(writer.DataSource));
            var stopped = (await admin.GetStatusAsync("shared", Ct))!;
            Assert.Equal(ProjectionState.Failed, stopped.State);
            Assert.Equal(poison.EventId, stopped.Failure!.EventId);
            Assert.Equal(FeedCursor.Start, stopped.Cursor);
            Assert.False(log.Logged<ProjectionFailedException>(follower), "the follower found the row failed and did not run the read model");
            Assert.Equal(["ledger-" + follower], await MartenNode.LockHoldersAsync(writer.DataSource, "shared"));

            // A retry issued from a process that runs no daemon at all.
            broken = false;
            await using (var operatorSource = EventStoreDataSource.Create(db.ConnectionString, "ledger-operator"))
            {
                Assert.True(await new ProjectionAdmin(operatorSource).RetryAsync("shared", Ct));
            }

            var second = await writer.Store.AppendToStreamAsync(stream, ExpectedVersion.Any, Events.Many(2), Ct);
            Assert.True(await admin.WaitForAsync("shared", new FeedCursor(second.Events[^1].Position), TimeSpan.FromMinutes(1), Ct),
                $"the follower runs it after the retry\n{await MartenNode.DescribeAsync(writer.DataSource)}\n{log.Tail(30)}");
            Assert.Equal([.. first.Events.Concat(second.Events).Select(e => e.Position)], await counters["a"].ReadLogAsync(writer.DataSource));
            var status = (await admin.GetStatusAsync("shared", Ct))!;
            Assert.Equal(ProjectionState.Running, status.State);
            Assert.Equal(follower, status.OwnerNode);
            Assert.NotNull(status.OwnerSince);
            Print(log.Tail(40));
        }
        finally
        {
            foreach (var node in nodes.Values) await node.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_write_on_the_read_only_connection_is_found_at_its_event_as_under_Marten()
    {
        await using var db = await database.CreateDatabaseAsync(Ct);
        var sneaky = new SneakyWriter();
        await using var writer = await Node.StartAsync(db.ConnectionString);
        await sneaky.CreateTableAsync(writer.DataSource);
        var admin = new ProjectionAdmin(writer.DataSource);
        var appended = await writer.Store.AppendToStreamAsync(Events.NewStream(), ExpectedVersion.Any, [.. Events.Many(3), Poison(), .. Events.Many(2)], Ct);

        // The scratch transaction reads in read-only mode as Marten's batch does; run read-write, every event would pass
        // alone there and the failure could not be pinned on the poison event.
        await using var node = await MartenNode.StartAsync(db.ConnectionString, "solo", new CapturedLog(), sneaky);
        await Eventually.HoldsAsync(async () => (await admin.GetStatusAsync("sneaky", Ct))?.State == ProjectionState.Failed, "the projection has failed");

        var failure = (await admin.GetStatusAsync("sneaky", Ct))!.Failure!;
        Assert.Equal(appended.Events[3].EventId, failure.EventId);
        Assert.Contains("25006", failure.Error, StringComparison.Ordinal);
        Assert.Equal(0L, await Db.ScalarAsync<long>(writer.DataSource, "select count(*) from tests.sneaky"));
    }

    [Fact]
    public async Task A_connection_killed_mid_batch_is_retried_without_stopping_the_projection_or_applying_anything_twice()
    {
        await using var db = await database.CreateDatabaseAsync(Ct);
        var log = new CapturedLog();
        var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var counter = new MartenCounter("sturdy")
        {
            BeforeRead = async call =>
            {
                if (call != 1) return;
                entered.TrySetResult();
                await release.Task;
            },
        };
        await using var writer = await Node.StartAsync(db.ConnectionString);
        await counter.CreateTablesAsync(writer.DataSource);
        var admin = new ProjectionAdmin(writer.DataSource);
        var streams = Enumerable.Range(0, 4).Select(_ => Events.NewStream()).ToArray();
        foreach (var stream in streams) await writer.Store.AppendToStreamAsync(stream, ExpectedVersion.Any, Events.Many(5), Ct);
        await using var node = await MartenNode.StartAsync(db.ConnectionString, "victim", log, counter);

        // The first batch is inside the read model, its read transaction open, when every session of the node is ended
        // on the server (pg_terminate_backend: SqlState 57P01), its daemon's lock and Marten's connections with it.
        await entered.Task.WaitAsync(TimeSpan.FromMinutes(1), Ct);
        Assert.True(await MartenNode.KillConnectionsAsync(writer.DataSource, "victim") > 0);
        release.SetResult();
        await using (var writers = new Writers(writer.Store, 2, streams, appendsPerWriter: 20))
        {
            await writers.StopAsync();
        }

        var head = await writer.Store.GetHeadPositionAsync(Ct);
        Assert.True(await admin.WaitForAsync("sturdy", new FeedCursor(head), TimeSpan.FromMinutes(1), Ct),
            $"the projection catches up\n{await MartenNode.DescribeAsync(writer.DataSource)}\n{log.Tail(30)}");
        var feed = new List<long>();
        for (var page = await writer.Store.ReadFeedAsync(FeedCursor.Start, 1000, cancellationToken: Ct); page.Events.Count > 0;
             page = await writer.Store.ReadFeedAsync(page.Next, 1000, cancellationToken: Ct))
        {
            feed.AddRange(page.Events.Select(e => e.Position));
        }

        Assert.Equal(feed, await counter.ReadLogAsync(writer.DataSource));
        var status = (await admin.GetStatusAsync("sturdy", Ct))!;
        Assert.Equal(ProjectionState.Running, status.State);
        Assert.Null(status.Failure);
        Assert.Equal(0L, await Db.ScalarAsync<long>(writer.DataSource,
            "select count(*) from ledger.projection_checkpoints where name = 'sturdy' and (error is not null or failed_at is not null)"));
        Print(log.Tail(30));
    }

    [Fact]
    public async Task A_write_that_fails_only_when_Marten_commits_the_batch_stops_the_projection_at_its_event()
    {
        await using var db = await database.CreateDatabaseAsync(Ct);
        var log = new CapturedLog();
        var strict = new CheckedNumbers();
        await using var writer = await Node.StartAsync(db.ConnectionString);
        await strict.CreateTableAsync(writer.DataSource);
        var admin = new ProjectionAdmin(writer.DataSource);
        var stream = Events.NewStream();
        var appended = await writer.Store.AppendToStreamAsync(stream, ExpectedVersion.Any,
            [.. Events.Many(3), Events.Make(data: """{"n":-1}"""), .. Events.Many(2)], Ct);
        var negative = appended.Events[3];

        // The read model's own code never throws: its insert is queued, and PostgreSQL refuses it (check constraint,
        // 23514) only inside Marten's transaction. Marten pauses the shard; the batch that comes back with the same first
        // event is tried on the scratch transaction first, where the insert runs at once and the event is found.
        await using var node = await MartenNode.StartAsync(db.ConnectionString, "solo", log, strict);
        await Eventually.HoldsAsync(async () => (await admin.GetStatusAsync("checked-numbers", Ct))?.State == ProjectionState.Failed,
            "the projection has failed", () => Task.FromResult(log.Tail(20)), TimeSpan.FromMinutes(1));

        var failed = (await admin.GetStatusAsync("checked-numbers", Ct))!;
        Assert.Equal(negative.EventId, failed.Failure!.EventId);
        Assert.Equal(negative.Position, failed.Failure.Position);
        Assert.Contains("PostgresException", failed.Failure.Error, StringComparison.Ordinal);
        Assert.Equal(0L, await Db.ScalarAsync<long>(writer.DataSource, "select count(*) from tests.checked_numbers"));
        Print(log.Tail(20));

        Assert.NotNull(await admin.SkipAsync("checked-numbers", "bob", Ct));
        Assert.True(await admin.WaitForAsync("checked-numbers", new FeedCursor(appended.Events[^1].Position), TimeSpan.FromMinutes(1), Ct));
        Assert.Equal(5L, await Db.ScalarAsync<long>(writer.DataSource, "select count(*) from tests.checked_numbers"));
    }
}

/// <summary>
/// A read model with a bug Marten's daemon catches: for poison events it writes on the batch's (read-only) connection instead
/// of queuing the write, which PostgreSQL refuses (25006).
/// </summary>
internal sealed class SneakyWriter : IProjection
{
    public string Name => "sneaky";

    public IReadOnlyList<string> Tables => ["tests.sneaky"];

    public async Task CreateTableAsync(NpgsqlDataSource dataSource)
    {
        await using var command = dataSource.CreateCommand("create schema if not exists tests; create table tests.sneaky (position bigint primary key)");
        await command.ExecuteNonQueryAsync(TestContext.Current.CancellationToken);
    }

    public async Task ApplyAsync(ProjectionBatch batch, CancellationToken cancellationToken)
    {
        foreach (var e in batch.Events)
        {
            await using var insert = batch.CreateCommand("insert into {tests.sneaky} (position) values (@position)");
            insert.Parameters.Add(new NpgsqlParameter<long>("position", e.Position));
            if (e.Data.Contains("poison", StringComparison.Ordinal)) await insert.ExecuteNonQueryAsync(cancellationToken);
            else await batch.ExecuteAsync(insert, cancellationToken);
        }
    }
}

/// <summary>A read model that stores each event's <c>n</c> in a table whose check constraint refuses negative numbers.</summary>
internal sealed class CheckedNumbers : IProjection
{
    public string Name => "checked-numbers";

    public IReadOnlyList<string> Tables => ["tests.checked_numbers"];

    public async Task CreateTableAsync(NpgsqlDataSource dataSource)
    {
        await using var command = dataSource.CreateCommand(
            "create schema if not exists tests; create table tests.checked_numbers (position bigint primary key, n int not null check (n >= 0))");
        await command.ExecuteNonQueryAsync(TestContext.Current.CancellationToken);
    }

    public async Task ApplyAsync(ProjectionBatch batch, CancellationToken cancellationToken)
    {
        await using var insert = batch.CreateCommand(
            "insert into {tests.checked_numbers} (position, n) select p, n from unnest(@positions::bigint[], @numbers::int[]) as t(p, n)");
        insert.Parameters.Add(new NpgsqlParameter<long[]>("positions", [.. batch.Events.Select(e => e.Position)]));
        insert.Parameters.Add(new NpgsqlParameter<int[]>("numbers",
            [.. batch.Events.Select(e => System.Text.Json.JsonDocument.Parse(e.Data).RootElement.GetProperty("n").GetInt32())]));
        await batch.ExecuteAsync(insert, cancellationToken);
    }
}

/// <summary>Records every wake-up the supervisor hands it.</summary>
internal sealed class RecordingMaintenance : IProjectionMaintenance
{
    private readonly System.Collections.Concurrent.ConcurrentQueue<ProjectionWakeUp> _seen = new();

    public IReadOnlyList<ProjectionWakeUp> Seen => [.. _seen];

    public Task RunAsync(ProjectionWakeUp wakeUp, CancellationToken cancellationToken)
    {
        _seen.Enqueue(wakeUp);
        return Task.CompletedTask;
    }
}
