using Ledger.EventStore.Projections;
using Ledger.EventStore.Tests.Support;
using Npgsql;
using NpgsqlTypes;

namespace Ledger.EventStore.Tests.Projections;

/// <summary>
/// A toy projection: counts events per stream. It also logs every position it applies (no unique key, so applying an event
/// twice shows as a duplicate) and refuses, by throwing, any batch that does not continue the feed order after the last
/// event it applied — so both "twice" and "out of order" are visible to the tests.
/// </summary>
internal sealed class StreamCounter(string name) : IProjection
{
    public string Name { get; } = name;

    private string Prefix => Name.Replace('-', '_');

    public string CountsTable => $"tests.{Prefix}_counts";
    public string LogTable => $"tests.{Prefix}_log";
    public string LastTable => $"tests.{Prefix}_last";

    public IReadOnlyList<string> Tables => [CountsTable, LogTable, LastTable];

    /// <summary>Throws on events for which this answers true (a bug in the projection, until "fixed").</summary>
    public Func<RecordedEvent, bool>? FailOn { get; set; }

    /// <summary>Slows replay batches of a rebuild, so the test can watch it run.</summary>
    public TimeSpan RebuildBatchDelay { get; set; }

    public async Task CreateTablesAsync(NpgsqlDataSource dataSource)
    {
        await using var command = dataSource.CreateCommand($"""
            create schema if not exists tests;
            create table {CountsTable} (stream_id text primary key, events bigint not null, last_version bigint not null);
            create table {LogTable} (seq bigint generated always as identity primary key, position bigint not null);
            create table {LastTable} (id int primary key, position bigint not null);
            """);
        await command.ExecuteNonQueryAsync(TestContext.Current.CancellationToken);
    }

    public async Task ApplyAsync(ProjectionBatch batch, CancellationToken cancellationToken)
    {
        var events = batch.Events;
        if (batch.Table(CountsTable).Contains("__rebuild", StringComparison.Ordinal) && RebuildBatchDelay > TimeSpan.Zero)
        {
            await Task.Delay(RebuildBatchDelay, cancellationToken);
        }

        foreach (var e in events)
        {
            if (FailOn?.Invoke(e) == true) throw new InvalidOperationException($"cannot count event {e.EventId}");
        }

        await using (var last = batch.CreateCommand($"select position from {{{LastTable}}} where id = 1"))
        await using (var reader = await last.ExecuteReaderAsync(cancellationToken))
        {
            var previous = await reader.ReadAsync(cancellationToken) ? new FeedCursor(reader.GetInt64(0)) : FeedCursor.Start;
            foreach (var e in events)
            {
                if (e.Cursor <= previous) throw new InvalidOperationException($"event {e.Cursor} arrived after {previous}: out of feed order");
                previous = e.Cursor;
            }
        }

        await using var write = new NpgsqlBatch(batch.Connection, batch.Transaction);
        var log = new NpgsqlBatchCommand(batch.Sql($"insert into {{{LogTable}}} (position) select unnest(@positions)"));
        log.Parameters.Add(new NpgsqlParameter<long[]>("positions", NpgsqlDbType.Array | NpgsqlDbType.Bigint) { TypedValue = [.. events.Select(e => e.Position)] });
        write.BatchCommands.Add(log);
        var counts = new NpgsqlBatchCommand(batch.Sql($$"""
            insert into {{{CountsTable}}} as c (stream_id, events, last_version)
            select stream_id, count(*), max(version) from unnest(@streams, @versions) as e(stream_id, version) group by stream_id
            on conflict (stream_id) do update set events = c.events + excluded.events, last_version = excluded.last_version
            """));
        counts.Parameters.Add(new NpgsqlParameter<string[]>("streams", NpgsqlDbType.Array | NpgsqlDbType.Text) { TypedValue = [.. events.Select(e => e.StreamId)] });
        counts.Parameters.Add(new NpgsqlParameter<long[]>("versions", NpgsqlDbType.Array | NpgsqlDbType.Bigint) { TypedValue = [.. events.Select(e => e.StreamVersion)] });
        write.BatchCommands.Add(counts);
        var moved = new NpgsqlBatchCommand(batch.Sql($$"""
            insert into {{{LastTable}}} (id, position) values (1, @position)
            on conflict (id) do update set position = excluded.position
            """));
        moved.Parameters.Add(new NpgsqlParameter<long>("position", events[^1].Position));
        write.BatchCommands.Add(moved);
        await write.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>The model: events per stream.</summary>
    public async Task<Dictionary<string, long>> ReadCountsAsync(NpgsqlDataSource dataSource) =>
        await Db.ReadPairsAsync(dataSource, $"select stream_id, events from {CountsTable}");

    /// <summary>Applied positions in the order they were applied.</summary>
    public async Task<List<long>> ReadLogAsync(NpgsqlDataSource dataSource)
    {
        var positions = new List<long>();
        await using var command = dataSource.CreateCommand($"select position from {LogTable} order by seq");
        await using var reader = await command.ExecuteReaderAsync(TestContext.Current.CancellationToken);
        while (await reader.ReadAsync(TestContext.Current.CancellationToken)) positions.Add(reader.GetInt64(0));
        return positions;
    }

    /// <summary>Whether the model counts exactly the stored events (and the log holds each once).</summary>
    public async Task<bool> MatchesReferenceAsync(NpgsqlDataSource dataSource, ICollection<long>? skippedPositions = null)
    {
        var reference = await Db.ReferenceCountsAsync(dataSource, skippedPositions);
        var model = await ReadCountsAsync(dataSource);
        return reference.Count == model.Count && reference.All(r => model.TryGetValue(r.Key, out var n) && n == r.Value);
    }
}

internal static class Db
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public static async Task<Dictionary<string, long>> ReadPairsAsync(NpgsqlDataSource dataSource, string sql, params NpgsqlParameter[] parameters)
    {
        var pairs = new Dictionary<string, long>(StringComparer.Ordinal);
        await using var command = dataSource.CreateCommand(sql);
        command.Parameters.AddRange(parameters);
        await using var reader = await command.ExecuteReaderAsync(Ct);
        while (await reader.ReadAsync(Ct)) pairs[reader.GetString(0)] = reader.GetInt64(1);
        return pairs;
    }

    /// <summary>The reference: events per stream counted straight from the events table.</summary>
    public static Task<Dictionary<string, long>> ReferenceCountsAsync(NpgsqlDataSource dataSource, ICollection<long>? skippedPositions = null) =>
        ReadPairsAsync(dataSource, "select stream_id, count(*) from ledger.events where position <> all(@skipped) group by stream_id",
            new NpgsqlParameter<long[]>("skipped", NpgsqlDbType.Array | NpgsqlDbType.Bigint) { TypedValue = [.. skippedPositions ?? []] });

    public static async Task<T> ScalarAsync<T>(NpgsqlDataSource dataSource, string sql, params NpgsqlParameter[] parameters)
    {
        await using var command = dataSource.CreateCommand(sql);
        command.Parameters.AddRange(parameters);
        return (T)(await command.ExecuteScalarAsync(Ct))!;
    }

    /// <summary>For each projection, the application names of the sessions holding its ownership lock.</summary>
    public static async Task<Dictionary<string, List<string>>> LockHoldersAsync(NpgsqlDataSource dataSource, IEnumerable<string> projections)
    {
        var holders = projections.ToDictionary(p => p, _ => new List<string>(), StringComparer.Ordinal);
        await using var command = dataSource.CreateCommand("""
            select p.name, a.application_name
            from unnest(@names) as p(name)
            join pg_locks l on l.locktype = 'advisory' and l.granted and l.objsubid = 2
                           and l.database = (select oid from pg_database where datname = current_database())
                           and l.classid = @namespace::int4::oid and l.objid = hashtext(p.name)::oid
            join pg_stat_activity a on a.pid = l.pid
            """);
        command.Parameters.Add(new NpgsqlParameter<string[]>("names", NpgsqlDbType.Array | NpgsqlDbType.Text) { TypedValue = [.. holders.Keys] });
        command.Parameters.Add(new NpgsqlParameter<int>("namespace", ProjectionDaemon.AdvisoryLockNamespace));
        await using var reader = await command.ExecuteReaderAsync(Ct);
        while (await reader.ReadAsync(Ct)) holders[reader.GetString(0)].Add(reader.GetString(1));
        return holders;
    }
}

/// <summary>A node running a projection daemon: its own pool, named after the node so its sessions can be found and killed.</summary>
internal sealed class DaemonNode : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();

    private DaemonNode(string nodeId, Node node, ProjectionDaemon daemon)
    {
        NodeId = nodeId;
        Node = node;
        Daemon = daemon;
        Running = daemon.RunAsync(_stop.Token);
    }

    public string NodeId { get; }
    public string ApplicationName => "ledger-" + NodeId;
    public Node Node { get; }
    public ProjectionDaemon Daemon { get; }
    public Task Running { get; }

    public static async Task<DaemonNode> StartAsync(string connectionString, string nodeId, IEnumerable<IProjection> projections, Action<ProjectionDaemonOptions>? configure = null)
    {
        var withName = new NpgsqlConnectionStringBuilder(connectionString) { ApplicationName = "ledger-" + nodeId }.ConnectionString;
        var node = await Node.StartAsync(withName);
        var options = new ProjectionDaemonOptions
        {
            NodeId = nodeId,
            BatchSize = 100,
            RebuildBatchSize = 200,
            PollInterval = TimeSpan.FromMilliseconds(200),
            OwnershipInterval = TimeSpan.FromMilliseconds(200),
            NodeTimeout = TimeSpan.FromSeconds(3),
            RetryDelay = TimeSpan.FromMilliseconds(200),
        };
        configure?.Invoke(options);
        return new DaemonNode(nodeId, node, new ProjectionDaemon(node.DataSource, projections, options));
    }

    /// <summary>Ends every session of this node on the server, as a crash or a network cut would.</summary>
    public async Task KillConnectionsAsync(NpgsqlDataSource admin)
    {
        await Db.ScalarAsync<long>(admin,
            "select count(pg_terminate_backend(pid)) from pg_stat_activity where application_name = @app and datname = current_database()",
            new NpgsqlParameter<string>("app", ApplicationName));
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await Running;
        await Node.DisposeAsync();
        _stop.Dispose();
    }
}

internal static class Eventually
{
    /// <summary>Waits for a condition with a deadline (never a fixed sleep): the feed's horizon trails the commits.</summary>
    public static async Task HoldsAsync(Func<Task<bool>> condition, string what, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(30));
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline) Assert.Fail($"Timed out waiting until {what}.");
            await Task.Delay(25, TestContext.Current.CancellationToken);
        }
    }
}

/// <summary>Appends in the background from several writers until stopped.</summary>
internal sealed class Writers : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly Task[] _tasks;

    public Writers(EventStore store, int writers, string[] streams, int appendsPerWriter = int.MaxValue)
    {
        _tasks = Enumerable.Range(0, writers).Select(w => Task.Run(async () =>
        {
            var random = new Random(w);
            for (var i = 0; i < appendsPerWriter && !_stop.IsCancellationRequested; i++)
            {
                await store.AppendToStreamAsync(streams[random.Next(streams.Length)], ExpectedVersion.Any, Events.Many(random.Next(1, 4)), CancellationToken.None);
                Interlocked.Increment(ref _appends);
            }
        })).ToArray();
    }

    private long _appends;

    public long Appends => Interlocked.Read(ref _appends);

    public async Task StopAsync()
    {
        await _stop.CancelAsync();
        await Task.WhenAll(_tasks);
    }

    public async ValueTask DisposeAsync()
    {
        if (!_stop.IsCancellationRequested) await StopAsync();
        _stop.Dispose();
    }
}

