using Ledger.EventStore.Schema;
using Npgsql;

namespace Ledger.EventStore.Tests.Support;

/// <summary>A node of the ledger as the tests see it: its own data source (its own pool) and its own store.</summary>
internal sealed class Node : IAsyncDisposable
{
    private readonly List<Gate> _gates;

    private Node(NpgsqlDataSource dataSource, EventStore store, List<Gate> gates) => (DataSource, Store, _gates) = (dataSource, store, gates);

    public NpgsqlDataSource DataSource { get; }
    public EventStore Store { get; }

    public static async Task<Node> StartAsync(string connectionString, Action<EventStoreOptions>? configure = null)
    {
        var dataSource = EventStoreDataSource.Create(connectionString, "ledger-tests");
        await new Migrator(dataSource).MigrateAsync([EventStoreSchema.Migrations], TestContext.Current.CancellationToken);
        var options = new EventStoreOptions();
        configure?.Invoke(options);
        var gates = options.InlineProjections.OfType<Gate>().ToList();
        foreach (var gate in gates) gate.Bind(dataSource);
        return new Node(dataSource, new EventStore(dataSource, options), gates);
    }

    public async Task<long> CountEventsAsync(string? streamId = null)
    {
        await using var command = DataSource.CreateCommand(
            "select count(*) from ledger.events where @stream_id::text is null or stream_id = @stream_id");
        command.Parameters.AddWithValue("stream_id", (object?)streamId ?? DBNull.Value);
        return (long)(await command.ExecuteScalarAsync(TestContext.Current.CancellationToken))!;
    }

    /// <summary>How many transactions wrote these events (PostgreSQL's xmin of their rows).</summary>
    public async Task<long> CountTransactionsAsync(Guid[] eventIds)
    {
        await using var command = DataSource.CreateCommand(
            "select count(distinct xmin::text) from ledger.mt_events where id = any(@event_ids)");
        command.Parameters.AddWithValue("event_ids", eventIds);
        return (long)(await command.ExecuteScalarAsync(TestContext.Current.CancellationToken))!;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var gate in _gates) await gate.DisposeAsync();
        await Store.DisposeAsync();
        await DataSource.DisposeAsync();
    }
}

internal static class Events
{
    private static readonly DateTimeOffset Monday = new(2025, 2, 11, 8, 0, 0, TimeSpan.Zero);

    public static EventData Make(string type = "thing-happened.v1", string? data = null, Guid? id = null, DateTimeOffset? occurredAt = null) =>
        new(id ?? Guid.CreateVersion7(), type, data ?? """{"n":1}""", occurredAt ?? Monday,
            new EventMetadata { Actor = "tests", CorrelationId = "corr-1" });

    public static EventData[] Many(int count, string type = "thing-happened.v1") =>
        Enumerable.Range(1, count).Select(i => Make(type, $$"""{"n":{{i}}}""")).ToArray();

    public static string NewStream(string prefix = "S") => $"{prefix}-{Guid.NewGuid():N}"[..20].ToUpperInvariant();
}

/// <summary>A clock the test sets.</summary>
internal sealed class ManualClock(DateTimeOffset now) : TimeProvider
{
    public DateTimeOffset Now { get; set; } = now;
    public override DateTimeOffset GetUtcNow() => Now;
}

/// <summary>
/// An inline projection that holds the append's transaction open, after Marten has drawn its positions, until released:
/// the test's way of forcing a transaction that drew its positions early to commit late. It queues a wait on an advisory
/// lock that the gate's own session holds into the append's batch, behind Marten's append statement; releasing the lock
/// lets the append commit.
/// </summary>
internal sealed class Gate : Marten.Events.Projections.IProjection, IAsyncDisposable
{
    private static int _nextKey = 0x6A7E0000;
    private readonly long _key = Interlocked.Increment(ref _nextKey);
    private readonly TaskCompletionSource _entered = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private NpgsqlConnection? _holder;
    private int _closed = 1;

    /// <summary>Completes once an append is waiting at the gate with its positions drawn.</summary>
    public Task Entered => _entered.Task;

    /// <summary>The sequence's last drawn number when the append reached the gate: the held append's last position.</summary>
    public long HeldThrough { get; private set; }

    /// <summary>Takes the lock the held append will wait on (the node's data source; called by <see cref="Node.StartAsync"/>).</summary>
    public void Bind(NpgsqlDataSource dataSource)
    {
        _holder = dataSource.OpenConnection();
        using var command = new NpgsqlCommand("select pg_advisory_lock(@key)", _holder);
        command.Parameters.AddWithValue("key", _key);
        command.ExecuteNonQuery();
    }

    public void Release()
    {
        if (Interlocked.Exchange(ref _closed, 0) == 0) return;
        using var command = new NpgsqlCommand("select pg_advisory_unlock(@key)", _holder);
        command.Parameters.AddWithValue("key", _key);
        command.ExecuteNonQuery();
    }

    public Task ApplyAsync(Marten.IDocumentOperations operations, IReadOnlyList<JasperFx.Events.IEvent> events, CancellationToken cancellation)
    {
        if (Volatile.Read(ref _closed) == 0) return Task.CompletedTask;
        // Bounded, so that a failing assertion before Release() ends the test instead of hanging the run.
        operations.QueueSqlCommand("set local lock_timeout = '20s'");
        operations.QueueSqlCommand("select pg_advisory_xact_lock(?)", _key);
        _ = WatchAsync();
        return Task.CompletedTask;
    }

    private async Task WatchAsync()
    {
        await using var command = new NpgsqlCommand("""
            select exists (select 1 from pg_locks where locktype = 'advisory' and not granted
                           and ((classid::bigint << 32) | objid::bigint) = @key),
                   (select last_value from ledger.mt_events_sequence)
            """, _holder);
        command.Parameters.AddWithValue("key", _key);
        for (var i = 0; i < 3000; i++)
        {
            await using (var reader = await command.ExecuteReaderAsync())
            {
                await reader.ReadAsync();
                if (reader.GetBoolean(0))
                {
                    HeldThrough = reader.GetInt64(1);
                    _entered.TrySetResult();
                    return;
                }
            }

            await Task.Delay(10);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_holder is not null) await _holder.DisposeAsync();
    }
}

/// <summary>
/// An append that has drawn its positions and not committed: run through the store's own append transaction on a
/// transaction the test holds open, commits or rolls back (leaving a hole Marten must prove dead).
/// </summary>
internal sealed class HeldAppend : IAsyncDisposable
{
    private readonly NpgsqlConnection _connection;
    private readonly NpgsqlTransaction _transaction;

    private HeldAppend(NpgsqlConnection connection, NpgsqlTransaction transaction, IReadOnlyList<long> positions) =>
        (_connection, _transaction, Positions) = (connection, transaction, positions);

    /// <summary>The positions the held events drew, in order.</summary>
    public IReadOnlyList<long> Positions { get; }

    /// <summary>Appends <paramref name="count"/> events to a stream on a transaction of its own, left open.</summary>
    public static async Task<HeldAppend> StartAsync(Node node, string streamId, int count)
    {
        var connection = await node.DataSource.OpenConnectionAsync(TestContext.Current.CancellationToken);
        var transaction = await connection.BeginTransactionAsync(TestContext.Current.CancellationToken);
        var results = await node.Store.AppendInTransactionAsync(
            transaction, [new StreamAppend(streamId, ExpectedVersion.Any, Events.Many(count))], TestContext.Current.CancellationToken);
        return new HeldAppend(connection, transaction, [.. results[0].Events.Select(e => e.Position)]);
    }

    /// <summary>Appends one event to a stream on the caller's transaction, which the caller ends.</summary>
    public static async Task<(long Position, Guid EventId)> AppendAsync(Node node, NpgsqlTransaction transaction, string streamId)
    {
        var results = await node.Store.AppendInTransactionAsync(
            transaction, [new StreamAppend(streamId, ExpectedVersion.Any, [Events.Make()])], TestContext.Current.CancellationToken);
        return (results[0].Events[0].Position, results[0].Events[0].EventId);
    }

    public Task CommitAsync() => _transaction.CommitAsync(TestContext.Current.CancellationToken);

    public Task RollbackAsync() => _transaction.RollbackAsync(TestContext.Current.CancellationToken);

    public async ValueTask DisposeAsync()
    {
        await _transaction.DisposeAsync();
        await _connection.DisposeAsync();
    }
}
