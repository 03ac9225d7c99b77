using JasperFx.Events.Daemon;
using Microsoft.Extensions.Logging;
using Ledger.EventStore.Appending;
using Ledger.EventStore.Schema;
using Marten;
using Npgsql;
using NpgsqlTypes;

namespace Ledger.EventStore;

/// <summary>Where a read of a stream stops in time.</summary>
public enum TimeAxis
{
    /// <summary>By when the events happened (the sender's clock): "what had happened to it by then".</summary>
    OccurredAt,

    /// <summary>By when the ledger recorded them: "what the ledger knew by then".</summary>
    RecordedAt,
}

/// <summary>
/// The ledger's event store on Marten (decision 0006): events are rows of Marten's <c>mt_events</c>, appended through
/// Marten sessions. On top it keeps what Marten does not do for us: group commit of many callers' appends (one
/// transaction, one Marten session, refused requests left out), idempotent retries by event id, the per-stream hash chain,
/// and a gap-free feed in position order up to Marten's high-water mark. Reads go straight to the database (the view
/// <c>ledger.events</c>). One instance per process, over the process's one <see cref="NpgsqlDataSource"/>.
/// </summary>
public sealed class EventStore : IAsyncDisposable
{
    private readonly NpgsqlDataSource _dataSource;
    private readonly DocumentStore _marten;
    private readonly bool _ownsMarten;
    private readonly MartenEvents _martenEvents;
    private readonly AppendPipeline _pipeline;
    private readonly EventStoreMetrics _metrics;
    private readonly CancellationTokenSource _stopping = new();
    private readonly Task _highWater;
    private readonly Task _statistics;
    private readonly Projections.OwnershipCoordinator? _coordinator;
    private readonly Lock _startLock = new();
    private Task? _coordinatorStarted;
    private readonly Projections.ProjectionSupervisor? _supervisor;
    private readonly Projections.RebuildMaintenance? _rebuilds;

    /// <summary>Creates the store on a Marten store of its own. Apply <see cref="EventStoreSchema.Migrations"/> first.</summary>
    public EventStore(NpgsqlDataSource dataSource, EventStoreOptions? options = null)
        : this(dataSource, options ?? new EventStoreOptions(), marten: null)
    {
    }

    /// <summary>
    /// Creates the store on a Marten store that the host built and owns (the service registers it with <c>AddMarten</c>, so
    /// that Wolverine's Marten integration finds it), configured by <see cref="ConfigureMarten"/> with the same options.
    /// </summary>
    public EventStore(NpgsqlDataSource dataSource, EventStoreOptions options, IDocumentStore marten)
        : this(dataSource, options, (DocumentStore)(marten ?? throw new ArgumentNullException(nameof(marten))))
    {
    }

    private EventStore(NpgsqlDataSource dataSource, EventStoreOptions options, DocumentStore? marten)
    {
        _dataSource = dataSource ?? throw new ArgumentNullException(nameof(dataSource));
        Options = options ?? throw new ArgumentNullException(nameof(options));
        _ownsMarten = marten is null;
        _marten = marten ?? DocumentStore.For(o => ConfigureMarten(o, dataSource, Options));
        if (Options.AsyncProjections.Count > 0)
        {
            // What AddMarten(...).AddAsyncDaemon(HotCold) registers as a hosted service, owned by the store instead, so
            // that one store per process holds the events, the projections and their daemon (MartenSetup: HotCold), with
            // ownership locks that a frozen node loses (OwnershipCoordinator, issue 13).
            var unknown = Options.HeldProjections.Where(name => Options.AsyncProjections.All(p => p.Name != name)).ToArray();
            if (unknown.Length > 0) throw new ArgumentException($"Held projections that are not asynchronous read models of the store: {string.Join(", ", unknown)}.", nameof(options));
            _coordinator = new Projections.OwnershipCoordinator(_marten, dataSource, Options.LoggerFactory, Options.HeldProjections);
            // Acts on operators' retries, skips and rebuild requests on this node (docs/projections.md); started with the daemon.
            var coordinator = _coordinator;
            List<Projections.IProjectionMaintenance> maintenance = [.. Options.ProjectionMaintenance];
            if (Options.RunsRebuilds)
            {
                _rebuilds = new Projections.RebuildMaintenance(
                    new Projections.ProjectionRebuild(dataSource, Options.Rebuilds, Options.LoggerFactory.CreateLogger<Projections.ProjectionRebuild>()),
                    Options.AsyncProjections, coordinator.Holds, Options.LoggerFactory.CreateLogger<Projections.RebuildMaintenance>());
                maintenance.Add(_rebuilds);
            }

            _supervisor = new Projections.ProjectionSupervisor(
                dataSource, [.. Options.AsyncProjections.Select(p => p.Name)], coordinator.DaemonForMainDatabase, coordinator.Owns, maintenance,
                Options.LoggerFactory.CreateLogger<Projections.ProjectionSupervisor>());
        }

        _martenEvents = new MartenEvents(_marten, Options.EventTypes, [.. Options.InlineProjections]);
        _pipeline = new AppendPipeline(dataSource, _martenEvents, Options);
        // A store that runs Marten's daemon leaves the detection to the daemon's own high-water agent, which its shards
        // follow: a second detector on the same node doubled the work and held the read models' lag at a p99 of 1.4-1.7 s
        // in the benchmark (one detector: 0.44 s; docs/benchmarks.md, "Landing B").
        using (ExecutionContext.SuppressFlow())
        {
            _highWater = Options.DetectHighWater && Options.AsyncProjections.Count == 0
                ? Task.Run(() => DetectHighWaterAsync(_stopping.Token))
                : Task.CompletedTask;
            _statistics = Options.DetectHighWater || Options.AsyncProjections.Count > 0
                ? Task.Run(() => EnsureEventStatisticsAsync(_stopping.Token))
                : Task.CompletedTask;
        }

        _metrics = new EventStoreMetrics(Options.MeterFactory, () => _pipeline.QueuedCount);
        _pipeline.BatchCommitted += (requests, events) =>
        {
            _metrics.BatchCommitted(requests, events);
            BatchCommitted?.Invoke(requests, events);
        };
    }

    /// <summary>
    /// Configures Marten for this store: <see cref="MartenSetup.Configure"/>, then the asynchronous read models of <paramref name="options"/> (each run through <see cref="Projections.MartenSqlProjection"/>).
    /// </summary>
    public static void ConfigureMarten(StoreOptions marten, NpgsqlDataSource dataSource, EventStoreOptions options)
    {
        ArgumentNullException.ThrowIfNull(marten);
        ArgumentNullException.ThrowIfNull(options);
        MartenSetup.Configure(marten, dataSource, options.EventTypes);
        foreach (var projection in options.AsyncProjections)
        {
            marten.Projections.Add(
                new Projections.MartenSqlProjection(
                    projection, dataSource, options.NodeId, options.LoggerFactory.CreateLogger<Projections.MartenSqlProjection>(), options.EventTypes),
                JasperFx.Events.Projections.ProjectionLifecycle.Async, projection.Name, MartenSetup.ConfigureShard);
        }
    }

    /// <summary>The options the store runs with.</summary>
    public EventStoreOptions Options { get; }

    /// <summary>The Marten document store the events live in (for Marten's own readers and projections).</summary>
    public IDocumentStore Marten => _marten;

    /// <summary>Appends waiting for a writer right now.</summary>
    public int QueuedAppends => _pipeline.QueuedCount;

    /// <summary>Raised after each group-commit batch with its number of requests and events (for metrics).</summary>
    public event Action<int, int>? BatchCommitted;

    /// <summary>Appends events to one stream atomically.</summary>
    /// <exception cref="WrongExpectedVersionException">The stream was not at the expected version; nothing was written.</exception>
    /// <exception cref="EventIdConflictException">An event id is stored already with other content; nothing was written.</exception>
    /// <exception cref="InvalidEventDataException">An event's data is not a JSON object; nothing was written.</exception>
    public async Task<AppendResult> AppendToStreamAsync(
        string streamId, ExpectedVersion expectedVersion, IReadOnlyList<EventData> events, CancellationToken cancellationToken = default)
    {
        var results = await AppendAsync([new StreamAppend(streamId, expectedVersion, events)], cancellationToken);
        return results[0];
    }

    /// <summary>
    /// Appends to several streams atomically: every stream's expected version must hold, or nothing is written.
    /// Appending events whose ids are all stored already, with the same content, returns the original result and writes
    /// nothing (safe retries, across restarts).
    /// </summary>
    /// <returns>One result per stream, in the order given.</returns>
    public async Task<IReadOnlyList<AppendResult>> AppendAsync(IReadOnlyList<StreamAppend> appends, CancellationToken cancellationToken = default)
    {
        // Checking and canonicalizing happen here, on the caller's thread, so the writer's transaction stays short.
        var request = new PreparedRequest(appends, cancellationToken);
        var unknown = request.Streams.SelectMany(s => s.Events).FirstOrDefault(e => !_martenEvents.Knows(e.Source.Type));
        if (unknown is not null) throw new InvalidEventDataException(unknown.EventId, $"its type '{unknown.Source.Type}' is not an event type of this store");
        return await _metrics.MeasureAsync(appends, () => _pipeline.AppendAsync(request));
    }

    /// <summary>
    /// Runs one append through exactly the group commit's transaction code (locks, checks, hashes, Marten's append) on a
    /// transaction the caller owns and ends: the tests' way of holding a transaction that has drawn its positions open, or
    /// rolling it back to leave a hole, without a second way of building the store's rows.
    /// </summary>
    internal async Task<IReadOnlyList<AppendResult>> AppendInTransactionAsync(
        NpgsqlTransaction transaction, IReadOnlyList<StreamAppend> appends, CancellationToken cancellationToken)
    {
        var outcome = (await AppendTransaction.ExecuteAsync(transaction.Connection!, transaction,
            [new PreparedRequest(appends, cancellationToken)], Options, _martenEvents, cancellationToken))[0];
        return outcome.Error is { } error ? throw error : outcome.Results!;
    }

    /// <summary>The stream's current version (0 when it has no events).</summary>
    public async Task<long> GetStreamVersionAsync(string streamId, CancellationToken cancellationToken = default)
    {
        await using var command = _dataSource.CreateCommand(Sql.ReadStreamVersion);
        command.Parameters.AddWithValue("stream_id", streamId);
        return await command.ExecuteScalarAsync(cancellationToken) is long version ? version : 0;
    }

    /// <summary>Reads a stream forward in version order.</summary>
    /// <param name="streamId">The stream.</param>
    /// <param name="fromVersion">The first version to return (1 = from the start).</param>
    /// <param name="toVersion">The last version to return, for a read "as of version N".</param>
    /// <param name="asOf">Stop before the first event past this moment on <paramref name="axis"/>.</param>
    /// <param name="axis">Which clock <paramref name="asOf"/> refers to.</param>
    /// <param name="maxCount">At most this many events.</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    public async Task<IReadOnlyList<RecordedEvent>> ReadStreamAsync(
        string streamId, long fromVersion = 1, long? toVersion = null, DateTimeOffset? asOf = null,
        TimeAxis axis = TimeAxis.OccurredAt, int maxCount = int.MaxValue, CancellationToken cancellationToken = default)
    {
        await using var command = _dataSource.CreateCommand(Sql.ReadStream);
        var p = command.Parameters;
        p.AddWithValue("stream_id", streamId);
        p.AddWithValue("from_version", Math.Max(1, fromVersion));
        p.AddWithValue("to_version", toVersion ?? long.MaxValue);
        p.AddWithValue("as_of", NpgsqlDbType.TimestampTz, (asOf ?? DateTimeOffset.MaxValue).ToUniversalTime());
        p.AddWithValue("by_recorded", axis == TimeAxis.RecordedAt);
        p.AddWithValue("max_count", (long)maxCount);
        return await ReadEventsAsync(command, cancellationToken);
    }

    /// <summary>The highest global position stored (0 when the store is empty).</summary>
    public async Task<long> GetHeadPositionAsync(CancellationToken cancellationToken = default)
    {
        await using var command = _dataSource.CreateCommand(Sql.ReadHeadPosition);
        return (long)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    /// <summary>
    /// Fails, changing nothing, when Marten's tables in the database are not what <see cref="MartenSetup"/> configures: a
    /// migration missing or edited, or a Marten upgrade shipped without its migration (docs/operations.md, "Marten's
    /// schema"). Marten itself never creates or changes the schema here, so a service that starts on a schema it does not
    /// match would fail later, at the first append or read that meets the difference.
    /// </summary>
    public Task AssertSchemaAsync(CancellationToken cancellationToken = default) =>
        _marten.Storage.Database.AssertDatabaseMatchesConfigurationAsync(cancellationToken);

    /// <summary>
    /// The feed's head: the highest position the feed shows now (Marten's high-water mark). Every position up to it is
    /// committed or provably never will be; it follows commits by tens of milliseconds.
    /// </summary>
    public async Task<long> GetFeedHeadAsync(CancellationToken cancellationToken = default)
    {
        await using var command = _dataSource.CreateCommand(Sql.ReadFeedHead);
        return (long)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    /// <summary>Returns once the feed shows every position up to <paramref name="position"/> (read-your-writes on the feed).</summary>
    public async Task WaitForFeedAsync(long position, CancellationToken cancellationToken = default)
    {
        while (await GetFeedHeadAsync(cancellationToken) < position)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(10), cancellationToken);
        }
    }

    /// <summary>Reads several whole streams in one round trip. Every requested stream is in the answer (empty if it has no events).</summary>
    public async Task<IReadOnlyDictionary<string, IReadOnlyList<RecordedEvent>>> ReadStreamsAsync(
        IReadOnlyCollection<string> streamIds, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(streamIds);
        var (sql, bind) = StreamsQuery(streamIds, Sql.ReadOneStream, Sql.ReadStreams);
        return ByStream(streamIds, await PreparedRead.ListAsync(_dataSource, sql, bind, ReadRecordedEvent, cancellationToken), e => e.StreamId);
    }

    /// <summary>
    /// Reads several whole streams as a writer needs them to decide on their next events (<see cref="StreamEvent"/>: no
    /// metadata, hash, recorded time or position), in one round trip. Every requested stream is in the answer (empty if it
    /// has no events).
    /// </summary>
    public async Task<IReadOnlyDictionary<string, IReadOnlyList<StreamEvent>>> ReadStreamsToDecideAsync(
        IReadOnlyCollection<string> streamIds, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(streamIds);
        // Every write runs it, outside any transaction: a prepared read (PreparedRead).
        var (sql, bind) = StreamsQuery(streamIds, Sql.ReadOneStreamToDecide, Sql.ReadStreamsToDecide);
        var events = await PreparedRead.ListAsync(_dataSource, sql, bind,
            reader => new StreamEvent(reader.GetGuid(0), reader.GetString(1), reader.GetInt64(2), reader.GetString(3), reader.GetString(4),
                reader.GetFieldValue<DateTimeOffset>(5)),
            cancellationToken);
        return ByStream(streamIds, events, e => e.StreamId);
    }

    /// <summary>
    /// Reads several whole streams on a connection the caller owns: inside an append's transaction (inline projections)
    /// this includes the events the transaction has just inserted. Not prepared: statements inside a transaction never are
    /// (PreparedRead, npgsql#6391).
    /// </summary>
    public static async Task<IReadOnlyDictionary<string, IReadOnlyList<RecordedEvent>>> ReadStreamsAsync(
        NpgsqlConnection connection, NpgsqlTransaction? transaction, IReadOnlyCollection<string> streamIds, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(streamIds);
        var (sql, bind) = StreamsQuery(streamIds, Sql.ReadOneStream, Sql.ReadStreams);
        await using var command = new NpgsqlCommand(sql, connection, transaction);
        bind(command.Parameters);
        return ByStream(streamIds, await ReadEventsAsync(command, cancellationToken), e => e.StreamId);
    }

    /// <summary>One stream by its own statement (a generic plan PostgreSQL keeps), several by one array.</summary>
    private static (string Sql, Action<NpgsqlParameterCollection> Bind) StreamsQuery(
        IReadOnlyCollection<string> streamIds, string oneStream, string streams) =>
        streamIds.Count == 1
            ? (oneStream, parameters => parameters.Add(new NpgsqlParameter<string>("stream_id", streamIds.First())))
            : (streams, parameters => parameters.Add(
                new NpgsqlParameter<string[]>("stream_ids", NpgsqlDbType.Array | NpgsqlDbType.Text) { TypedValue = streamIds.ToArray() }));

    /// <summary>The events by stream, in their order; every requested stream is a key (empty if it has no events).</summary>
    private static IReadOnlyDictionary<string, IReadOnlyList<T>> ByStream<T>(
        IReadOnlyCollection<string> streamIds, IEnumerable<T> events, Func<T, string> streamOf)
    {
        var streams = streamIds.Distinct(StringComparer.Ordinal).ToDictionary(id => id, _ => new List<T>(), StringComparer.Ordinal);
        foreach (var e in events) streams[streamOf(e)].Add(e);
        return streams.ToDictionary(p => p.Key, p => (IReadOnlyList<T>)p.Value, StringComparer.Ordinal);
    }

    /// <summary>
    /// Reads the global feed after <paramref name="after"/>, in feed order. Gap-free: an event whose transaction is still
    /// open is not skipped; the feed stops before it until it commits (or rolls back).
    /// </summary>
    /// <param name="after">Where the previous page ended (<see cref="FeedCursor.Start"/> for the beginning).</param>
    /// <param name="maxCount">At most this many events.</param>
    /// <param name="types">Only events of these stored types (null for all).</param>
    /// <param name="cancellationToken">Cancels the read.</param>
    public async Task<FeedPage> ReadFeedAsync(
        FeedCursor after, int maxCount, IReadOnlyCollection<string>? types = null, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxCount);
        await using var command = _dataSource.CreateCommand(Sql.ReadFeed);
        AddFeedParameters(command.Parameters, after, maxCount, types);
        var events = await ReadEventsAsync(command, cancellationToken);
        return new FeedPage(events, events.Count > 0 ? events[^1].Cursor : after);
    }

    /// <summary>Reads a page of the feed on a connection the caller owns (for projection daemons reading in their own transaction).</summary>
    public static async Task<FeedPage> ReadFeedAsync(
        NpgsqlConnection connection, NpgsqlTransaction? transaction, FeedCursor after, int maxCount, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxCount);
        await using var command = new NpgsqlCommand(Sql.ReadFeed, connection, transaction);
        AddFeedParameters(command.Parameters, after, maxCount, null);
        var events = await ReadEventsAsync(command, cancellationToken);
        return new FeedPage(events, events.Count > 0 ? events[^1].Cursor : after);
    }

    private static void AddFeedParameters(NpgsqlParameterCollection p, FeedCursor after, int maxCount, IReadOnlyCollection<string>? types)
    {
        p.AddWithValue("after_position", after.Position);
        p.Add(new NpgsqlParameter("types", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = types is null ? DBNull.Value : types.ToArray() });
        p.AddWithValue("max_count", (long)maxCount);
    }

    private static async Task<IReadOnlyList<RecordedEvent>> ReadEventsAsync(NpgsqlCommand command, CancellationToken cancellationToken)
    {
        var events = new List<RecordedEvent>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken)) events.Add(ReadRecordedEvent(reader));
        return events;
    }

    /// <summary>Maps a row of the event queries (position, event_id, stream_id, ... hash, in that order).</summary>
    internal static RecordedEvent ReadRecordedEvent(NpgsqlDataReader reader) => new(
        position: reader.GetInt64(0),
        eventId: reader.GetGuid(1),
        streamId: reader.GetString(2),
        streamVersion: reader.GetInt64(3),
        type: reader.GetString(4),
        data: reader.GetString(5),
        metadataJson: reader.GetString(6),
        occurredAt: reader.GetFieldValue<DateTimeOffset>(7),
        recordedAt: reader.GetFieldValue<DateTimeOffset>(8),
        hash: reader.GetFieldValue<byte[]>(9));

    /// <summary>
    /// Runs Marten's high-water detection (a daemon with no projections of its own): it keeps the mark in
    /// <c>mt_event_progression</c> that the feed stops at, holding it below any sequence number a live transaction may
    /// still commit (0006, Q5). Survives a database that is down at start or goes away: Marten's agent retries, and
    /// starting it is retried here.
    /// </summary>
    private async Task DetectHighWaterAsync(CancellationToken cancellationToken)
    {
        IProjectionDaemon? daemon = null;
        // The wake-up the daemon's agent takes as it is built (MartenSetup.HighWaterSpacing): the feed's mark follows
        // commits, not the agent's polling times.
        using var wakeup = new Projections.HighWaterWakeup(_dataSource, MartenSetup.HighWaterSpacing, Options.LoggerFactory.CreateLogger<Projections.HighWaterWakeup>());
        _marten.Options.Projections.Wakeup = wakeup;
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                try
                {
                    daemon = await _marten.BuildProjectionDaemonAsync();
                    // Not on IProjectionDaemon: only Marten's daemon itself starts the detection without any shard.
                    await ((global::Marten.Events.Daemon.ProjectionDaemon)daemon).StartHighWaterDetectionAsync();
                    break;
                }
                catch (Exception) when (!cancellationToken.IsCancellationRequested)
                {
                    // The database is down, or not migrated or granted yet (a service migrates while it starts): try again.
                    daemon?.Dispose();
                    daemon = null;
                    await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken);
                }
            }

            await Task.Delay(Timeout.Infinite, cancellationToken);
        }
        catch (Exception) when (cancellationToken.IsCancellationRequested)
        {
            // Stopping: whatever the detection was doing, or failing at, is moot. It must not fail the store's disposal,
            // which would hide why a host that could not start stopped (DatabaseRolesTests caught exactly that).
        }
        finally
        {
            if (daemon is not null) await StopAsync(daemon);
        }
    }

    /// <summary>
    /// Until <c>ledger.mt_events</c> has planner statistics, asks the database every few seconds to take them once the table
    /// holds events (migration 0012), then ends: autovacuum keeps them from there. Without them Marten's high-water gap
    /// query, which every node runs at every wake-up, sorts a scan of the whole table (30-37 ms a call at 100,000 events
    /// against 0.2 ms; issue 15), and autovacuum first analyzes a new table only up to a minute after it filled.
    /// </summary>
    private async Task EnsureEventStatisticsAsync(CancellationToken cancellationToken)
    {
        try
        {
            while (true)
            {
                try
                {
                    await using var command = _dataSource.CreateCommand(Sql.AnalyzeEventsOnce);
                    command.Parameters.AddWithValue("min_rows", 1000);
                    if ((bool)(await command.ExecuteScalarAsync(cancellationToken))!) return;
                }
                catch (Exception) when (!cancellationToken.IsCancellationRequested)
                {
                    // The database is down, or not migrated yet: the statistics only make a query cheaper, so try again later.
                }

                await Task.Delay(TimeSpan.FromSeconds(2), cancellationToken);
            }
        }
        catch (Exception) when (cancellationToken.IsCancellationRequested)
        {
            // Stopping.
        }
    }

    private static async Task StopAsync(IProjectionDaemon daemon)
    {
        try
        {
            await daemon.StopAllAsync();
        }
        catch (Exception)
        {
            // The detection only ever writes the mark, which any node may write again; a failed stop loses nothing.
        }
        finally
        {
            daemon.Dispose();
        }
    }

    /// <summary>
    /// Starts Marten's async daemon over <see cref="EventStoreOptions.AsyncProjections"/> on this node (HotCold: it competes
    /// with the other nodes for each projection and runs those it wins). Call it once the schema is migrated and checked;
    /// the service does so after its migration step. Idempotent; does nothing when the store has no asynchronous projections.
    /// </summary>
    public Task StartProjectionsAsync()
    {
        if (_coordinator is null) return Task.CompletedTask;
        lock (_startLock)
        {
            if (_coordinatorStarted is null)
            {
                using (ExecutionContext.SuppressFlow())
                {
                    _coordinatorStarted = Task.Run(() => _coordinator.StartAsync(_stopping.Token));
                }

                _supervisor?.Start();
            }

            return _coordinatorStarted;
        }
    }

    /// <summary>
    /// Fills the read models this node holds (<see cref="EventStoreOptions.HeldProjections"/>, not yet released) that the
    /// daemon has never run, up to the store's high-water mark, by the rebuild's shared-scan bulk replay
    /// (<see cref="Projections.ProjectionRebuild.StartFill"/>), then releases every held read model: the daemon runs each
    /// from its progression (the fill's horizon, or where it was). Only a read model whose ownership lock this node gets is
    /// filled here, so no other node's daemon runs it meanwhile; one another node owns is released unfilled. Returns the
    /// names of the read models filled. A fill that fails (or is cancelled) still releases them: the daemon then applies
    /// their events itself, which is slower but the same.
    /// </summary>
    public async Task<IReadOnlyList<string>> FillHeldProjectionsAsync(CancellationToken cancellationToken = default)
    {
        if (_coordinator is null) return [];
        var held = Options.AsyncProjections.Where(p => _coordinator.Held.Contains(p.Name)).ToList();
        if (held.Count == 0) return [];
        var owned = new List<Projections.IProjection>();
        try
        {
            foreach (var projection in held)
            {
                if (await _coordinator.TryOwnAsync(projection.Name, cancellationToken)) owned.Add(projection);
            }

            var rebuild = new Projections.ProjectionRebuild(_dataSource, Options.Rebuilds, Options.LoggerFactory.CreateLogger<Projections.ProjectionRebuild>());
            var filled = await Task.WhenAll(rebuild.StartFill(owned, cancellationToken));
            return [.. owned.Where((_, i) => filled[i]).Select(p => p.Name)];
        }
        finally
        {
            // Let go of the lock before the release, so that the leadership loop competes for it as for any other shard.
            foreach (var projection in owned) await _coordinator.DisownAsync(projection.Name);
            foreach (var projection in held) _coordinator.Release(projection.Name);
        }
    }

    /// <summary>
    /// Finishes the appends already queued, then stops the writers, the projection supervisor, the projection daemon and
    /// the high-water detection.
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        await _pipeline.DisposeAsync();
        await _stopping.CancelAsync();
        await _highWater;
        await _statistics;
        if (_supervisor is not null) await _supervisor.DisposeAsync();
        if (_rebuilds is not null) await _rebuilds.DisposeAsync();
        Task? started;
        lock (_startLock) started = _coordinatorStarted;
        if (_coordinator is not null)
        {
            if (started is not null)
            {
                try
                {
                    await started;
                }
                catch (OperationCanceledException)
                {
                    // Stopped before it had started: nothing runs to stop.
                }

                await _coordinator.StopAsync(CancellationToken.None);
            }

            await _coordinator.DisposeAsync();
        }

        _stopping.Dispose();
        if (_ownsMarten) _marten.Dispose();
        _metrics.Dispose();
    }
}
