using Ledger.EventStore.Schema;
using Npgsql;

namespace Ledger.EventStore.Tests.Support;

/// <summary>A node of the ledger as the tests see it: its own data source (its own pool) and its own store.</summary>
internal sealed class Node : IAsyncDisposable
{
    private Node(NpgsqlDataSource dataSource, EventStore store) => (DataSource, Store) = (dataSource, store);

    public NpgsqlDataSource DataSource { get; }
    public EventStore Store { get; }

    public static async Task<Node> StartAsync(string connectionString, Action<EventStoreOptions>? configure = null)
    {
        var dataSource = EventStoreDataSource.Create(connectionString, "ledger-tests");
        await new Migrator(dataSource).MigrateAsync([EventStoreSchema.Migrations], TestContext.Current.CancellationToken);
        var options = new EventStoreOptions();
        configure?.Invoke(options);
        return new Node(dataSource, new EventStore(dataSource, options));
    }

    public async Task<long> CountEventsAsync(string? streamId = null)
    {
        await using var command = DataSource.CreateCommand(
            "select count(*) from ledger.events where @stream_id::text is null or stream_id = @stream_id");
        command.Parameters.AddWithValue("stream_id", (object?)streamId ?? DBNull.Value);
        return (long)(await command.ExecuteScalarAsync(TestContext.Current.CancellationToken))!;
    }

    /// <summary>How many transactions wrote the events of these streams (PostgreSQL's xmin of their rows).</summary>
    public async Task<long> CountTransactionsAsync(string[] streamIds)
    {
        await using var command = DataSource.CreateCommand(
            "select count(distinct xmin::text) from ledger.mt_events where stream_id = any(@stream_ids)");
        command.Parameters.AddWithValue("stream_ids", streamIds);
        return (long)(await command.ExecuteScalarAsync(TestContext.Current.CancellationToken))!;
    }

    public async ValueTask DisposeAsync()
    {
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
/// An inline projection that holds the append's transaction open until released: the test's way of forcing a
/// transaction that drew its positions early to commit late.
/// </summary>
internal sealed class Gate : IInlineProjection
{
    private readonly TaskCompletionSource _entered = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _released = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _closed = 1;

    public Task Entered => _entered.Task;
    public IReadOnlyList<RecordedEvent> HeldEvents { get; private set; } = [];

    public void Release()
    {
        Volatile.Write(ref _closed, 0);
        _released.TrySetResult();
    }

    public async Task ApplyAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, IReadOnlyList<RecordedEvent> events, CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref _closed) == 0) return;
        HeldEvents = events;
        _entered.TrySetResult();
        // Bounded, so that a failing assertion before Release() ends the test instead of hanging the run.
        await _released.Task.WaitAsync(TimeSpan.FromSeconds(20), cancellationToken);
    }
}
