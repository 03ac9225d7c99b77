using System.Collections.Concurrent;
using Ledger.EventStore.Projections;
using Ledger.EventStore.Tests.Support;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Ledger.EventStore.Tests.Projections;

/// <summary>The CLR type Marten's daemon reads the tests' <c>thing-happened.v1</c> events into (it needs one per type name).</summary>
internal sealed record ThingHappened(int N, bool Poison);

/// <summary>A second event type (<c>rare-thing.v1</c>), for read models that declare the types they fold.</summary>
internal sealed record RareThing(int N);

/// <summary>
/// A toy read model written for Marten's daemon (writes through <see cref="ProjectionBatch.ExecuteAsync"/>): counts events
/// per stream and logs every position it applies with no unique key, so an event applied twice shows as a duplicate; it
/// throws on any batch that does not continue the feed after the last position it applied.
/// </summary>
internal sealed class MartenCounter(string name) : IProjection
{
    private int _calls;

    public string Name { get; } = name;

    private string Prefix => Name.Replace('-', '_');

    public string CountsTable => $"tests.{Prefix}_counts";
    public string LogTable => $"tests.{Prefix}_log";

    public IReadOnlyList<string> Tables => [CountsTable, LogTable];

    /// <summary>The stored types it declares (null: every type).</summary>
    public IReadOnlyCollection<string>? EventTypes { get; init; }

    /// <summary>Throws on events for which this answers true (a bug in the projection, until "fixed").</summary>
    public Func<RecordedEvent, bool>? FailOn { get; set; }

    /// <summary>Awaited at the start of every apply, before the read model reads its own tables (with the call's number).</summary>
    public Func<int, Task>? BeforeRead { get; set; }

    public async Task CreateTablesAsync(NpgsqlDataSource dataSource)
    {
        await using var command = dataSource.CreateCommand($"""
            create schema if not exists tests;
            create table {CountsTable} (stream_id text primary key, events bigint not null);
            create table {LogTable} (seq bigint generated always as identity primary key, position bigint not null);
            """);
        await command.ExecuteNonQueryAsync(TestContext.Current.CancellationToken);
    }

    public async Task ApplyAsync(ProjectionBatch batch, CancellationToken cancellationToken)
    {
        var call = Interlocked.Increment(ref _calls);
        if (BeforeRead is { } before) await before(call);
        var events = batch.Events;
        await using (var last = batch.CreateCommand($"select coalesce(max(position), 0) from {{{LogTable}}}"))
        {
            var previous = (long)(await last.ExecuteScalarAsync(cancellationToken))!;
            foreach (var e in events)
            {
                if (e.Position <= previous) throw new InvalidOperationException($"event {e.Position} arrived after {previous}: out of feed order");
                previous = e.Position;
            }
        }

        foreach (var e in events)
        {
            if (FailOn?.Invoke(e) == true) throw new InvalidOperationException($"cannot count event {e.EventId}");
        }

        await using var log = batch.CreateCommand($"insert into {{{LogTable}}} (position) select unnest(@positions::bigint[])");
        log.Parameters.Add(new NpgsqlParameter<long[]>("positions", [.. events.Select(e => e.Position)]));
        await batch.ExecuteAsync(log, cancellationToken);
        await using var counts = batch.CreateCommand($$"""
            insert into {{{CountsTable}}} as c (stream_id, events)
            select stream_id, count(*) from unnest(@streams::text[]) as e(stream_id) group by stream_id
            on conflict (stream_id) do update set events = c.events + excluded.events
            """);
        counts.Parameters.Add(new NpgsqlParameter<string[]>("streams", [.. events.Select(e => e.StreamId)]));
        await batch.ExecuteAsync(counts, cancellationToken);
    }

    public async Task<Dictionary<string, long>> ReadCountsAsync(NpgsqlDataSource dataSource) =>
        await Db.ReadPairsAsync(dataSource, $"select stream_id, events from {CountsTable}");

    public Task<List<long>> ReadLogAsync(NpgsqlDataSource dataSource) => Db.ReadPositionsAsync(dataSource, LogTable);
}

/// <summary>A node running Marten's daemon (HotCold) over the given read models, on its own pool, named so its sessions can be found.</summary>
internal static class MartenNode
{
    public static Task<Node> StartAsync(string connectionString, string nodeId, CapturedLog log, params IProjection[] projections) =>
        StartAsync(connectionString, nodeId, log, projections, maintenance: []);

    public static async Task<Node> StartAsync(
        string connectionString, string nodeId, CapturedLog log, IProjection[] projections, IProjectionMaintenance[] maintenance)
    {
        var withName = new NpgsqlConnectionStringBuilder(connectionString) { ApplicationName = "ledger-" + nodeId }.ConnectionString;
        var node = await Node.StartAsync(withName, options =>
        {
            options.EventTypes = new Dictionary<Type, string> { [typeof(ThingHappened)] = "thing-happened.v1", [typeof(RareThing)] = "rare-thing.v1" };
            options.NodeId = nodeId;
            options.LoggerFactory = log.For(nodeId);
            foreach (var projection in projections) options.AsyncProjections.Add(projection);
            foreach (var hook in maintenance) options.ProjectionMaintenance.Add(hook);
        });
        // The store awaits the start when it is disposed; a failing start shows there and in the log.
        _ = node.Store.StartProjectionsAsync();
        return node;
    }

    /// <summary>Ends every session of the node on the server, as a network cut would.</summary>
    public static Task<long> KillConnectionsAsync(NpgsqlDataSource admin, string nodeId) =>
        Db.ScalarAsync<long>(admin,
            "select count(pg_terminate_backend(pid)) from pg_stat_activity where application_name = @app and datname = current_database()",
            new NpgsqlParameter<string>("app", "ledger-" + nodeId));

    /// <summary>
    /// The sessions holding a read model's HotCold lock (Marten's per-shard lock) in this database: a bigint advisory lock
    /// shows as classid = its high 32 bits, objid = its low 32 bits, objsubid = 1.
    /// </summary>
    private const string LockHolders = """
        select a.pid, a.application_name
        from pg_locks l join pg_stat_activity a on a.pid = l.pid
        where l.locktype = 'advisory' and l.granted and l.objsubid = 1
          and l.classid::bigint = (@key >> 32) and l.objid::bigint = (@key & 4294967295)
          and l.database = (select oid from pg_database where datname = current_database())
        """;

    /// <summary>The application names (<c>ledger-{node}</c>) of the sessions holding <paramref name="projection"/>'s lock.</summary>
    public static async Task<List<string>> LockHoldersAsync(NpgsqlDataSource dataSource, string projection)
    {
        await using var command = dataSource.CreateCommand($"select application_name from ({LockHolders}) holders order by 1");
        command.Parameters.Add(new NpgsqlParameter<long>("key", MartenSetup.OwnershipLockKey(projection)));
        var holders = new List<string>();
        await using var reader = await command.ExecuteReaderAsync(TestContext.Current.CancellationToken);
        while (await reader.ReadAsync(TestContext.Current.CancellationToken)) holders.Add(reader.GetString(0));
        return holders;
    }

    /// <summary>
    /// Ends on the server the session of <paramref name="nodeId"/> that holds <paramref name="projection"/>'s lock, as
    /// PostgreSQL ends a frozen node's (its <c>idle_session_timeout</c>); returns how many sessions it ended (0 or 1).
    /// </summary>
    public static Task<long> EndLockSessionAsync(NpgsqlDataSource dataSource, string projection, string nodeId) =>
        Db.ScalarAsync<long>(dataSource, $"select count(pg_terminate_backend(pid)) from ({LockHolders}) holders where application_name = @app",
            new NpgsqlParameter<long>("key", MartenSetup.OwnershipLockKey(projection)), new NpgsqlParameter<string>("app", "ledger-" + nodeId));

    /// <summary>Marten's progression rows, to explain a test that waits in vain.</summary>
    public static Task<string> DescribeAsync(NpgsqlDataSource dataSource) =>
        Db.ScalarAsync<string>(dataSource,
            "select coalesce(string_agg(concat_ws(' ', name, last_seq_id, agent_status, pause_reason), E'\\n' order by name), '(none)') from ledger.mt_event_progression");
}

/// <summary>What each node's Marten coordinator, daemon and our projection code logged at information and above.</summary>
internal sealed class CapturedLog
{
    private readonly ConcurrentQueue<(string Node, string Category, LogLevel Level, string Message, Exception? Exception, DateTime At)> _entries = new();

    public IReadOnlyList<(string Node, string Category, LogLevel Level, string Message, Exception? Exception, DateTime At)> Entries => [.. _entries];

    public ILoggerFactory For(string node) => new Factory(this, node);

    /// <summary>Whether <paramref name="node"/> logged an exception of type <typeparamref name="T"/> anywhere in its chain.</summary>
    public bool Logged<T>(string node) where T : Exception =>
        _entries.Any(e => e.Node == node && Chain(e.Exception).Any(x => x is T));

    public int Count<T>(string node) where T : Exception =>
        _entries.Count(e => e.Node == node && Chain(e.Exception).Any(x => x is T));

    public string Tail(int lines) => string.Join('\n', _entries.TakeLast(lines).Select(e => $"{e.At:HH:mm:ss.fff} [{e.Node}] {e.Level} {e.Category}: {e.Message} {e.Exception?.GetType().Name}"));

    private static IEnumerable<Exception> Chain(Exception? exception)
    {
        for (var e = exception; e is not null; e = e.InnerException) yield return e;
    }

    private sealed class Factory(CapturedLog log, string node) : ILoggerFactory
    {
        public ILogger CreateLogger(string categoryName) => new Logger(log, node, categoryName);
        public void AddProvider(ILoggerProvider provider) { }
        public void Dispose() { }
    }

    private sealed class Logger(CapturedLog log, string node, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel)) log._entries.Enqueue((node, category, logLevel, formatter(state, exception), exception, DateTime.UtcNow));
        }
    }
}
