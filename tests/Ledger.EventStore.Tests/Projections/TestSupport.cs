using Ledger.EventStore.Tests.Support;
using Npgsql;
using NpgsqlTypes;

namespace Ledger.EventStore.Tests.Projections;


/// <summary>Small reads of the database for assertions.</summary>
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

    /// <summary>The positions a test read model logged, in the order it applied them (its log table's identity order).</summary>
    public static async Task<List<long>> ReadPositionsAsync(NpgsqlDataSource dataSource, string logTable)
    {
        var positions = new List<long>();
        await using var command = dataSource.CreateCommand($"select position from {logTable} order by seq");
        await using var reader = await command.ExecuteReaderAsync(Ct);
        while (await reader.ReadAsync(Ct)) positions.Add(reader.GetInt64(0));
        return positions;
    }

    public static async Task<T> ScalarAsync<T>(NpgsqlDataSource dataSource, string sql, params NpgsqlParameter[] parameters)
    {
        await using var command = dataSource.CreateCommand(sql);
        command.Parameters.AddRange(parameters);
        return (T)(await command.ExecuteScalarAsync(Ct))!;
    }
}

internal static class Eventually
{
    /// <summary>Waits for a condition with a deadline (never a fixed sleep): the feed's horizon trails the commits.</summary>
    public static Task HoldsAsync(Func<Task<bool>> condition, string what, TimeSpan? timeout = null) =>
        HoldsAsync(condition, what, () => Task.FromResult(""), timeout);

    /// <summary>
    /// As <see cref="HoldsAsync(Func{Task{bool}}, string, TimeSpan?)"/>, with <paramref name="describe"/> called when the
    /// wait times out, so the failure shows the state at the deadline (a log tail taken before the wait shows none of it).
    /// </summary>
    public static async Task HoldsAsync(Func<Task<bool>> condition, string what, Func<Task<string>> describe, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(30));
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline) Assert.Fail($"Timed out waiting until {what}.\n{await describe()}");
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

