using System.Data;
using System.Runtime.ExceptionServices;
using System.Threading.Channels;
using Ledger.EventStore.Schema;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Ledger.EventStore.Projections;

/// <summary>
/// One read of the store shared by the bulk replays of rebuilds that one node starts together
/// (<see cref="ProjectionRebuild.StartIfRequested"/>): each read model's rebuild joins it, or declines (nothing requested,
/// locked elsewhere, carried on from a shadow position, no bulk replay); when every one has, a single repeatable-read
/// snapshot reads each joined read model's horizon (its live progression; a fill's: the high-water mark) and the count
/// below it, then streams the events at or below the highest horizon, of the union of their types, stream by stream,
/// and hands each read model the part that is its own: its types, at or below its own horizon. So every bulk replay sees exactly what a scan of its
/// own would have seen (the same snapshot semantics, the same order), and the store is read once instead of once per
/// read model (docs/projections.md, "The bulk replay").
/// </summary>
/// <remarks>
/// Each read model reads from a bounded channel, so memory holds a bounded number of streams per read model, and the
/// slowest fold sets the scan's pace. A read model whose replay ends early (it threw, or its attempt was taken over)
/// leaves its seat and the scan goes on without it. If the scan itself fails, every seat sees that error
/// (<see cref="Seat.ScanError"/>): an infrastructure error, not a fault of any read model.
/// </remarks>
internal sealed partial class RebuildScan
{
    // Streams (units) queued per read model: a few thousand events, enough to keep the scan going while a fold writes.
    private const int StreamsPerSeat = 1_000;

    private static readonly string HorizonSql = SqlResources.Read(typeof(RebuildScan).Assembly, "projection_rebuild_horizon.sql");
    private static readonly string HighWaterSql = SqlResources.Read(typeof(RebuildScan).Assembly, "projection_fill_horizon.sql");
    private static readonly string CountSql = SqlResources.Read(typeof(RebuildScan).Assembly, "projection_rebuild_count.sql");

    private readonly NpgsqlDataSource _dataSource;
    private readonly ILogger _logger;
    private readonly CancellationToken _cancellationToken;
    private readonly Lock _lock = new();
    private readonly List<Seat> _seats = [];
    private int _waitingFor;

    public RebuildScan(NpgsqlDataSource dataSource, int members, ILogger logger, CancellationToken cancellationToken)
    {
        _dataSource = dataSource;
        _logger = logger;
        _waitingFor = members;
        _cancellationToken = cancellationToken;
    }

    /// <summary>Takes a seat for one read model's bulk replay; the scan starts once every member joined or declined.</summary>
    /// <param name="shard">The read model's shard.</param>
    /// <param name="types">The event types it folds (null: every type).</param>
    /// <param name="toHighWaterMark">Whether its horizon is the store's high-water mark (a fill of a read model the daemon
    /// never ran) instead of its live progression (a rebuild).</param>
    public Seat Join(string shard, IReadOnlyCollection<string>? types, bool toHighWaterMark = false)
    {
        var seat = new Seat(shard, types is null ? null : new HashSet<string>(types, StringComparer.Ordinal), toHighWaterMark);
        lock (_lock)
        {
            if (_waitingFor <= 0) throw new InvalidOperationException("Every member of the scan has already joined or declined.");
            _seats.Add(seat);
            Arrived();
        }

        return seat;
    }

    /// <summary>One member will not bulk-replay (each member joins or declines exactly once).</summary>
    public void Decline()
    {
        lock (_lock) Arrived();
    }

    private void Arrived()
    {
        if (--_waitingFor > 0 || _seats.Count == 0) return;
        Seat[] seats = [.. _seats];
        using (ExecutionContext.SuppressFlow())
        {
            _ = Task.Run(() => ScanAsync(seats), CancellationToken.None);
        }
    }

    private async Task ScanAsync(Seat[] seats)
    {
        var cancellationToken = _cancellationToken;
        try
        {
            await using var reader = await _dataSource.OpenConnectionAsync(cancellationToken);
            // Repeatable read: every horizon, every count and the events come from one snapshot.
            await using var snapshot = await reader.BeginTransactionAsync(IsolationLevel.RepeatableRead, cancellationToken);
            foreach (var seat in seats)
            {
                await using var command = new NpgsqlCommand(seat.ToHighWaterMark ? HighWaterSql : HorizonSql, reader, snapshot);
                if (!seat.ToHighWaterMark) command.Parameters.Add(ProjectionRebuild.Text("shard", seat.Shard));
                seat.Horizon = (long)(await command.ExecuteScalarAsync(cancellationToken))!;
            }

            // One count of the events for every seat (a full count of a large store takes a second or more).
            var upTo = seats.Max(s => s.Horizon);
            var events = await CountAsync(reader, snapshot, 0, upTo, cancellationToken);
            foreach (var seat in seats)
            {
                seat.Total = seat.Horizon == upTo ? events : events - await CountAsync(reader, snapshot, seat.Horizon, upTo, cancellationToken);
            }

            foreach (var seat in seats) seat.Started.TrySetResult();
            LogScanning(_logger, string.Join(", ", seats.Select(s => s.Shard)));
            IReadOnlyCollection<string>? types = seats.Any(s => s.Types is null)
                ? null
                : seats.SelectMany(s => s.Types!).ToHashSet(StringComparer.Ordinal);
            var reading = new List<Seat>(seats);
            await foreach (var stream in StreamScan.ReadAllStreamsAsync(reader, snapshot, upTo, types, cancellationToken))
            {
                for (var i = reading.Count - 1; i >= 0; i--)
                {
                    var seat = reading[i];
                    var mine = seat.Select(stream);
                    if (mine.Count == 0) continue;
                    try
                    {
                        await seat.Streams.Writer.WriteAsync(mine, seat.Left);
                    }
                    catch (OperationCanceledException) when (seat.Left.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
                    {
                        reading.RemoveAt(i);
                    }
                }

                if (reading.Count == 0) break;
            }

            // Ended at once: the folds' last writes may take a while, and a session idle in a transaction that long would
            // be ended by idle_in_transaction_session_timeout.
            await snapshot.CommitAsync(cancellationToken);
            foreach (var seat in seats) seat.Streams.Writer.TryComplete();
        }
        catch (Exception e)
        {
            foreach (var seat in seats) seat.Fail(e);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Rebuild scan: one read of the store for the bulk replays of {Shards}.")]
    private static partial void LogScanning(ILogger logger, string shards);

    private static async Task<long> CountAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, long after, long upTo, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(CountSql, connection, transaction);
        command.Parameters.Add(ProjectionRebuild.Bigint("after", after));
        command.Parameters.Add(ProjectionRebuild.Bigint("up_to", upTo));
        return (long)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    /// <summary>One read model's place in the scan.</summary>
    internal sealed class Seat
    {
        private readonly CancellationTokenSource _left = new();

        public Seat(string shard, HashSet<string>? types, bool toHighWaterMark)
        {
            Shard = shard;
            Types = types;
            ToHighWaterMark = toHighWaterMark;
            Left = _left.Token;
        }

        public string Shard { get; }

        public HashSet<string>? Types { get; }

        /// <summary>Whether <see cref="Horizon"/> is the store's high-water mark (a fill) rather than the live progression.</summary>
        public bool ToHighWaterMark { get; }

        /// <summary>The read model's live progression (a fill: the high-water mark) in the scan's snapshot: it reads nothing above it.</summary>
        public long Horizon { get; set; }

        /// <summary>How many events (of every type) are at or below <see cref="Horizon"/>.</summary>
        public long Total { get; set; }

        /// <summary>Completes when <see cref="Horizon"/> and <see cref="Total"/> are known (or fails with the scan).</summary>
        public TaskCompletionSource Started { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Channel<IReadOnlyList<RecordedEvent>> Streams { get; } = Channel.CreateBounded<IReadOnlyList<RecordedEvent>>(
            new BoundedChannelOptions(StreamsPerSeat) { SingleReader = true, SingleWriter = true });

        public CancellationToken Left { get; }

        /// <summary>The scan's own failure, if it failed: not a fault of the read model.</summary>
        public ExceptionDispatchInfo? ScanError { get; private set; }

        /// <summary>The read model no longer reads (its replay ended): the scan stops feeding it.</summary>
        public void Leave() => _left.Cancel();

        public void Fail(Exception e)
        {
            ScanError = ExceptionDispatchInfo.Capture(e);
            Started.TrySetException(e);
            Streams.Writer.TryComplete(e);
        }

        /// <summary>The events of <paramref name="stream"/> this read model folds: its types, at or below its horizon.</summary>
        public IReadOnlyList<RecordedEvent> Select(IReadOnlyList<RecordedEvent> stream)
        {
            // A stream's positions increase with its versions: every event of it above the horizon is at its end.
            var count = stream.Count;
            while (count > 0 && stream[count - 1].Position > Horizon) count--;
            if (Types is null) return count == stream.Count ? stream : stream.Take(count).ToList();
            var every = count == stream.Count;
            for (var i = 0; every && i < count; i++) every = Types.Contains(stream[i].Type);
            return every ? stream : stream.Take(count).Where(e => Types.Contains(e.Type)).ToList();
        }
    }
}
