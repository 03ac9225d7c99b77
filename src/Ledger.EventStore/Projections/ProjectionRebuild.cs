using System.Data;
using System.Runtime.CompilerServices;
using Ledger.EventStore.Schema;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using NpgsqlTypes;

namespace Ledger.EventStore.Projections;

/// <summary>How <see cref="ProjectionRebuild"/> replays.</summary>
public sealed class ProjectionRebuildOptions
{
    /// <summary>Events per replay batch (one transaction on the shadow tables).</summary>
    public int BatchSize { get; set; } = 1_000;

    /// <summary>
    /// The swap waits until the shadow tables lack at most this many events of the live progression: it applies them
    /// while it holds the live tables locked, so readers wait that long (for the one swap).
    /// </summary>
    public int SwapWithin { get; set; } = 1_000;

    /// <summary>
    /// Whether a rebuild of an <see cref="IBulkRebuildProjection"/> starts with a bulk replay (one pass over the store up
    /// to the live progression, written with COPY) before the replay batches.
    /// </summary>
    public bool BulkReplay { get; set; } = true;

    /// <summary>
    /// How long the swap waits for the live tables' lock (behind a long query or a daemon batch) before it lets go and
    /// tries again later: readers queue behind a waiting swap, so it must not wait long.
    /// </summary>
    public TimeSpan SwapLockTimeout { get; set; } = TimeSpan.FromSeconds(2);
}

/// <summary>
/// Rebuilds a read model run by Marten's async daemon blue/green, with no downtime (issue 12): replays the store into
/// shadow copies of its tables (<c>LIKE … INCLUDING ALL</c>) while the live ones keep answering and Marten's daemon keeps
/// them current, then swaps them in by renaming, in one short transaction. Acts on a request recorded by
/// <see cref="ProjectionAdmin.RequestRebuildAsync"/>.
/// </summary>
/// <remarks>
/// <para><b>Where it runs.</b> <see cref="RunIfRequestedAsync"/> is safe on any node at any time: a session advisory
/// lock per projection elects one node to rebuild it; a node that dies lets go of the lock with its connection, and the
/// next caller carries on (after the bulk replay: from the shadow position; during it: from scratch). Every write of a
/// rebuild first checks, under the checkpoint row's lock, that its attempt is still the current one.</para>
/// <para><b>What it replays.</b> Only events at or below the live progression (Marten's <c>last_seq_id</c> of shard
/// <c>&lt;name&gt;:All</c>), which is at or below the high-water mark: a fixed set. The shadow tables never get ahead of
/// the live ones, so the swap brings them to exactly the live progression and leaves Marten's progression where it is:
/// the daemon continues from it over the new tables, nothing applied twice, nothing skipped.</para>
/// <para><b>The swap.</b> One transaction: Marten's progression row, the live tables ACCESS EXCLUSIVE (readers wait,
/// never fail), the checkpoint row (the order a daemon batch takes them in: Marten's batch updates its progression first,
/// then runs our writes, then the <see cref="RebuildFence"/>, so they never deadlock), the events between the shadow
/// position and the progression applied to the shadow tables, rename, drop, a new table generation. A daemon batch computed from the old tables fails its fence
/// and Marten runs it again from the progression (see <see cref="RebuildFence"/>).</para>
/// </remarks>
public sealed partial class ProjectionRebuild
{
    // Session advisory locks (namespace, hashtext(name)): one rebuilder per projection across nodes. Distinct from the
    // own daemon's ownership namespace.
    private const int LockNamespace = 0x4C524231; // "LRB1"

    private static readonly string State = Read("projection_rebuild_state.sql");
    private static readonly string TryLock = Read("projection_try_lock.sql");
    private static readonly string Unlock = Read("projection_unlock.sql");
    private static readonly string CreateTable = Read("projection_rebuild_create_table.sql");
    private static readonly IReadOnlyList<string> SwapTable = SqlStatements.Split(Read("projection_rebuild_swap_table.sql"));
    private static readonly string Start = Read("projection_rebuild_begin.sql");
    private static readonly string TakeOver = Read("projection_rebuild_take_over.sql");
    private static readonly string Lock = Read("projection_rebuild_lock.sql");
    private static readonly string Current = Read("projection_rebuild_current.sql");
    private static readonly string Events = Read("projection_rebuild_events.sql");
    private static readonly string HasSkips = Read("projection_rebuild_has_skips.sql");
    private static readonly string Advance = Read("projection_rebuild_advance.sql");
    private static readonly string Gap = Read("projection_rebuild_remaining.sql");
    private static readonly string SwapProgression = Read("projection_rebuild_swap_progression.sql");
    private static readonly string Finish = Read("projection_rebuild_swapped.sql");
    private static readonly string Fail = Read("projection_rebuild_fail.sql");
    private static readonly string BulkWrite = Read("projection_rebuild_bulk_write.sql");
    private static readonly string BulkFinish = Read("projection_rebuild_bulk_finish.sql");
    private static readonly string BulkCheck = Read("projection_rebuild_bulk_check.sql");
    private static readonly string FillState = Read("projection_fill_state.sql");
    private static readonly string FillRequest = Read("projection_fill_request.sql");
    private static readonly IReadOnlyList<string> FillSwapProgression = SqlStatements.Split(Read("projection_fill_swap_progression.sql"));
    private static readonly string FillHorizon = Read("projection_fill_horizon.sql");
    private static readonly string FillProgression = Read("projection_fill_progression.sql");
    private static readonly string FillAbandon = Read("projection_fill_abandon.sql");

    private readonly NpgsqlDataSource _dataSource;
    private readonly ProjectionRebuildOptions _options;
    private readonly ILogger _logger;

    /// <summary>Creates the rebuilder over the process's data source.</summary>
    public ProjectionRebuild(NpgsqlDataSource dataSource, ProjectionRebuildOptions? options = null, ILogger? logger = null)
    {
        _dataSource = dataSource ?? throw new ArgumentNullException(nameof(dataSource));
        _options = options ?? new ProjectionRebuildOptions();
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(_options.BatchSize);
        ArgumentOutOfRangeException.ThrowIfNegative(_options.SwapWithin);
        _logger = logger ?? NullLogger.Instance;
    }

    /// <summary>
    /// If a rebuild of <paramref name="projection"/> is requested and no other node is running it, runs it to the end
    /// (the swap) or until <paramref name="cancellationToken"/> stops it (another call carries on later). Returns whether
    /// it swapped new tables in. Failures of the projection itself stop the rebuild visibly (status failed, in rebuild);
    /// infrastructure errors propagate, and the next call carries on.
    /// </summary>
    public Task<bool> RunIfRequestedAsync(IProjection projection, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(projection);
        return StartIfRequested([projection], cancellationToken)[0];
    }

    /// <summary>
    /// <see cref="RunIfRequestedAsync"/> for several read models at once, whose bulk replays share one read of the store
    /// (<see cref="RebuildScan"/>): one task per read model, in order, each completing as
    /// <see cref="RunIfRequestedAsync"/> would for it alone. A read model that is not requested, or that another node
    /// is rebuilding, completes at once with false and does not hold the others back.
    /// </summary>
    public IReadOnlyList<Task<bool>> StartIfRequested(IReadOnlyList<IProjection> projections, CancellationToken cancellationToken) =>
        StartRuns(projections, fill: false, cancellationToken);

    /// <summary>
    /// Fills read models that Marten's daemon has never run (no progression, or 0) and does not run now (held on this node,
    /// <see cref="EventStoreOptions.HeldProjections"/>) up to the store's high-water mark, through the same rebuild as
    /// <see cref="StartIfRequested"/> (shadow tables, the shared scan's bulk replay, replay batches, the swap), whose swap
    /// also sets the read model's progression to the position its new tables hold, so the daemon, once the read model is
    /// released, carries on from there. One task per read model, in order: true where it filled; false where the read
    /// model has a progression already, a rebuild other than a fill is requested or under way, or another node holds its
    /// rebuild lock.
    /// </summary>
    /// <remarks>
    /// The fill records a rebuild request marked as a fill's under the read model's rebuild lock and holds that lock to
    /// the end, so the nodes' rebuild maintenance leaves it alone; its swap refuses to swap if the progression moved from
    /// 0 meanwhile (a daemon ran the read model after all), so the tables it replaces never held anything, and the fill
    /// then abandons its request. A fill stopped half-way (its node died or was stopped) leaves its request behind: the
    /// next fill of the read model carries it on, and a rebuild (<see cref="StartIfRequested"/>) abandons it, shadow
    /// tables and all, since the daemon then runs the read model from its progression. The caller keeps the daemon off
    /// the read model meanwhile (<see cref="EventStore.FillHeldProjectionsAsync"/>).
    /// </remarks>
    public IReadOnlyList<Task<bool>> StartFill(IReadOnlyList<IProjection> projections, CancellationToken cancellationToken) =>
        StartRuns(projections, fill: true, cancellationToken);

    // Every member's run starts before any is awaited: the shared scan waits until each has joined or declined.
    private IReadOnlyList<Task<bool>> StartRuns(IReadOnlyList<IProjection> projections, bool fill, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(projections);
        if (projections.Any(p => p is null)) throw new ArgumentException("A projection is null.", nameof(projections));
        var scan = new RebuildScan(_dataSource, projections.Count, _logger, cancellationToken);
        return [.. projections.Select(p => RunOneAsync(p is RebuildFence fenced ? fenced.Inner : p, scan, fill, cancellationToken))];
    }

    private async Task<bool> RunOneAsync(IProjection projection, RebuildScan scan, bool fill, CancellationToken cancellationToken)
    {
        // Off the caller's thread at once: the caller starts every member before awaiting any.
        await Task.Yield();
        var rebuild = new Run(this, projection, scan, fill);
        try
        {
            if (!fill && !(await rebuild.ReadStateAsync(cancellationToken)).Requested) return false;

            await using var lockConnection = await _dataSource.OpenConnectionAsync(cancellationToken);
            if (!await ScalarAsync<bool>(lockConnection, null, TryLock, cancellationToken, LockParameters(projection.Name))) return false;
            try
            {
                if (fill)
                {
                    if (!await rebuild.RequestFillAsync(cancellationToken)) return false;
                    if (await rebuild.RunAsync(cancellationToken)) return true;
                    // It gave way (a daemon ran the read model meanwhile): nothing to carry on. A failed fill stays failed,
                    // visibly, and a cancelled one (an exception) stays for the next fill to carry on.
                    await rebuild.AbandonFillAsync(cancellationToken);
                    return false;
                }

                if (await rebuild.ReadStateAsync(cancellationToken) is { Requested: true, Fill: true })
                {
                    // A fill stopped half-way (its node died or was stopped: it held this lock to the end). Carried on as a
                    // rebuild it would replay up to the progression, which the daemon now moves from 0 over the live
                    // tables, and wait for it to pass the shadow position; those tables are the daemon's, so it is dropped.
                    await rebuild.AbandonFillAsync(cancellationToken);
                    return false;
                }

                return await rebuild.RunAsync(cancellationToken);
            }
            finally
            {
                if (lockConnection.State == ConnectionState.Open)
                {
                    try
                    {
                        await ScalarAsync<bool>(lockConnection, null, Unlock, CancellationToken.None, LockParameters(projection.Name));
                    }
                    catch (NpgsqlException)
                    {
                        // The session is gone, and its lock with it.
                    }
                }
            }
        }
        finally
        {
            // Whatever happened before it joined the shared scan, the others must not wait for it.
            rebuild.DeclineScan();
        }
    }

    private static NpgsqlParameter[] LockParameters(string name) =>
        [new NpgsqlParameter<int>("namespace", LockNamespace), Text("name", name)];

    /// <summary>One rebuild attempt by this node, while it holds the projection's rebuild lock.</summary>
    private sealed class Run
    {
        private readonly ProjectionRebuild _owner;
        private readonly IProjection _projection;
        private readonly IReadOnlyList<ProjectionTable> _tables;
        private readonly Dictionary<string, ProjectionTable> _byLogical;
        private readonly Guid _attempt = Guid.CreateVersion7();
        private readonly RebuildScan _scan;
        private readonly bool _fill;
        private bool _inScan;

        // What creates the shadow tables' indexes again after a bulk replay copied the rows in (null: nothing deferred).
        private List<string>? _deferredIndexes;

        // The read model's IProjection.EventTypes (null: every type): replay batches hand it only these, as its live
        // batches and the shared scan do.
        private readonly HashSet<string>? _types;

        public Run(ProjectionRebuild owner, IProjection projection, RebuildScan scan, bool fill)
        {
            _owner = owner;
            _projection = projection;
            _scan = scan;
            _fill = fill;
            _tables = projection.Tables.Select(t => ProjectionTable.Parse(projection.Name, t)).ToList();
            _byLogical = _tables.ToDictionary(t => t.Logical, StringComparer.Ordinal);
            _types = projection.EventTypes is { } types ? new HashSet<string>(types, StringComparer.Ordinal) : null;
        }

        private string Name => _projection.Name;

        private string Shard => MartenSetup.ShardName(Name);

        private NpgsqlDataSource DataSource => _owner._dataSource;

        private ProjectionRebuildOptions Options => _owner._options;

        /// <summary>This rebuild reads nothing from the shared scan (at most once; joining counts as arriving too).</summary>
        public void DeclineScan()
        {
            if (_inScan) return;
            _inScan = true;
            _scan.Decline();
        }

        private RebuildScan.Seat JoinScan(IBulkRebuildProjection projection)
        {
            if (_inScan) throw new InvalidOperationException($"Projection '{Name}' has already joined or declined the shared scan.");
            _inScan = true;
            return _scan.Join(Shard, projection.EventTypes, toHighWaterMark: _fill);
        }

        /// <summary>Records the fill as a rebuild request, if the read model was never run (see projection_fill_request.sql).</summary>
        public async Task<bool> RequestFillAsync(CancellationToken cancellationToken)
        {
            await using var connection = await DataSource.OpenConnectionAsync(cancellationToken);
            await using (var ensure = new NpgsqlCommand(ProjectionSql.RowsEnsure, connection))
            {
                ensure.Parameters.Add(new NpgsqlParameter<string[]>("names", NpgsqlDbType.Array | NpgsqlDbType.Text) { TypedValue = [Name] });
                await ensure.ExecuteNonQueryAsync(cancellationToken);
            }

            return await ExecuteAsync(connection, null, FillRequest, cancellationToken, Text("name", Name), Text("shard", Shard)) == 1;
        }

        /// <summary>Abandons a fill's request left behind, with its shadow tables (see projection_fill_abandon.sql).</summary>
        public async Task AbandonFillAsync(CancellationToken cancellationToken)
        {
            await using var connection = await DataSource.OpenConnectionAsync(cancellationToken);
            await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
            if (await ExecuteAsync(connection, transaction, FillAbandon, cancellationToken, Text("name", Name)) != 1) return;
            foreach (var table in _tables) await ExecuteAsync(connection, transaction, $"drop table if exists {table.Shadow}", cancellationToken);
            await transaction.CommitAsync(cancellationToken);
            LogFillAbandoned(_owner._logger, Name);
        }

        public async Task<RebuildState> ReadStateAsync(CancellationToken cancellationToken)
        {
            await using var connection = await DataSource.OpenConnectionAsync(cancellationToken);
            return await ReadStateAsync(connection, cancellationToken);
        }

        private async Task<RebuildState> ReadStateAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
        {
            await using var command = new NpgsqlCommand(_fill ? FillState : State, connection);
            command.Parameters.Add(Text("name", Name));
            if (!_fill) command.Parameters.Add(Text("shard", Shard));
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            if (!await reader.ReadAsync(cancellationToken)) return new RebuildState(false, null, false, 0);
            return new RebuildState(reader.GetBoolean(0), reader.IsDBNull(1) ? null : reader.GetInt64(1), reader.GetBoolean(2), reader.GetInt64(3));
        }

        public async Task<bool> RunAsync(CancellationToken cancellationToken)
        {
            await using (var connection = await DataSource.OpenConnectionAsync(cancellationToken))
            {
                var state = await ReadStateAsync(connection, cancellationToken);
                if (!state.Requested) return false;
                if (state.ShadowPosition is null)
                {
                    if (!await BeginAsync(connection, state, cancellationToken)) return false;
                }
                else
                {
                    // Carried on from its shadow position: no bulk replay.
                    DeclineScan();
                    if (await ExecuteAsync(connection, null, TakeOver, cancellationToken, Text("name", Name), Attempt()) != 1) return false;
                    LogResumed(_owner._logger, Name, state.ShadowPosition.Value);
                }
            }

            while (true)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var step = await ReplayBatchAsync(cancellationToken);
                if (step == Step.Stop) return false;
                if (step == Step.NearLive)
                {
                    var swap = await TrySwapAsync(cancellationToken);
                    if (swap == Step.Swapped) return true;
                    if (swap == Step.Stop) return false;
                    if (swap == Step.Wait) await Task.Delay(TimeSpan.FromMilliseconds(100), cancellationToken);
                }
            }
        }

        /// <summary>Creates the shadow tables and fills them: a bulk replay, or nothing (replay batches from the start).</summary>
        private async Task<bool> BeginAsync(NpgsqlConnection connection, RebuildState state, CancellationToken cancellationToken)
        {
            // A bulk replay reads the whole store itself, so it cannot leave out the events an operator skipped for this
            // read model; replay batches do (projection_rebuild_events.sql), so the rebuilt model equals the live one.
            var skips = await ScalarAsync<bool>(connection, null, HasSkips, cancellationToken, Text("name", Name));
            var bulk = Options.BulkReplay && !skips ? _projection as IBulkRebuildProjection : null;
            if (bulk is null) DeclineScan();
            await using (var transaction = await connection.BeginTransactionAsync(cancellationToken))
            {
                foreach (var table in _tables)
                {
                    await ExecuteAsync(connection, transaction, Placeholders(CreateTable, table), cancellationToken);
                }

                // A bulk replay copies into the shadow tables without their indexes and builds them once the rows are in.
                if (bulk is not null) _deferredIndexes = await DropIndexesAsync(connection, transaction, cancellationToken);
                var started = await ExecuteAsync(connection, transaction, Start, cancellationToken,
                    Text("name", Name), Attempt(), Bigint("live_position", state.LivePosition),
                    new NpgsqlParameter<long?>("shadow_position", NpgsqlDbType.Bigint) { TypedValue = bulk is null ? 0 : null });
                if (started != 1) return false;
                await transaction.CommitAsync(cancellationToken);
            }

            if (bulk is null)
            {
                LogStarted(_owner._logger, Name);
                return true;
            }

            LogBulkStarted(_owner._logger, Name);
            try
            {
                return await BulkReplayAsync(bulk, cancellationToken);
            }
            catch (BulkReplayAbandonedException)
            {
                LogAbandoned(_owner._logger, Name);
                return false;
            }
        }

        /// <summary>Drops the indexes of the empty shadow tables; returns the statements that create them again.</summary>
        private async Task<List<string>> DropIndexesAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, CancellationToken cancellationToken)
        {
            var creates = new List<string>();
            foreach (var table in _tables) creates.AddRange(await DeferredIndexes.DropAsync(connection, transaction, table.Shadow, cancellationToken));
            return creates;
        }

        /// <summary>
        /// Creates the shadow tables' indexes again, once the bulk replay's scan has ended (before its last writes, which
        /// may rely on them), in a transaction of its own that holds the checkpoint row in share mode: live batches' fences
        /// go on, and a take-over waits and then drops these tables anyway.
        /// </summary>
        private async Task BuildIndexesAsync(CancellationToken cancellationToken)
        {
            if (_deferredIndexes is not { } creates) return;
            await using var connection = await DataSource.OpenConnectionAsync(cancellationToken);
            await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
            if (await ScalarAsync<int?>(connection, transaction, BulkCheck, cancellationToken, Text("name", Name), Attempt()) is null)
            {
                throw new BulkReplayAbandonedException();
            }

            await DeferredIndexes.CreateAsync(connection, transaction, creates, cancellationToken);
            await transaction.CommitAsync(cancellationToken);
            _deferredIndexes = null;
        }

        /// <summary>
        /// One pass over the store up to the live progression (through the shared scan, <see cref="RebuildScan"/>), folded
        /// by the projection and written to the shadow tables in a few transactions; the shadow position stays null until
        /// the last write committed, so an attempt that dies half-way leaves nothing anyone would carry on from.
        /// </summary>
        private async Task<bool> BulkReplayAsync(IBulkRebuildProjection projection, CancellationToken cancellationToken)
        {
            var seat = JoinScan(projection);
            var read = 0L;
            var readToTheEnd = false;
            try
            {
                try
                {
                    await seat.Started.Task.WaitAsync(cancellationToken);
                    await projection.ReplayAsync(new BulkReplay(ReadStreamsAsync, WriteAsync), cancellationToken);
                    if (!readToTheEnd)
                    {
                        throw new InvalidOperationException(
                            $"Projection '{Name}' returned from its bulk replay before reading every event up to the horizon.");
                    }

                    await BuildIndexesAsync(cancellationToken);
                }
                finally
                {
                    seat.Leave();
                }
            }
            catch (Exception e) when (e is not BulkReplayAbandonedException && seat.ScanError is null && IsProjectionFault(e, cancellationToken))
            {
                // Not retried in bulk: replay batches from the start find the exact event, or succeed if the fault was
                // not the events'.
                LogBulkFailed(_owner._logger, e, Name);
                await using var connection = await DataSource.OpenConnectionAsync(cancellationToken);
                await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
                foreach (var table in _tables)
                {
                    await ExecuteAsync(connection, transaction, Placeholders(CreateTable, table), cancellationToken);
                }

                if (await ExecuteAsync(connection, transaction, BulkFinish, cancellationToken,
                        Text("name", Name), Attempt(), Bigint("shadow_position", 0), Bigint("events_done", 0)) != 1)
                {
                    throw new BulkReplayAbandonedException();
                }

                await transaction.CommitAsync(cancellationToken);
                _deferredIndexes = null;
                return true;
            }
            catch (Exception) when (seat.ScanError is { } scanError)
            {
                // The shared read failed (its connection, the server): an infrastructure error for every read model in it.
                scanError.Throw();
                throw;
            }

            await using (var connection = await DataSource.OpenConnectionAsync(cancellationToken))
            {
                if (await ExecuteAsync(connection, null, BulkFinish, cancellationToken,
                        Text("name", Name), Attempt(), Bigint("shadow_position", seat.Horizon), Bigint("events_done", seat.Total)) != 1)
                {
                    throw new BulkReplayAbandonedException();
                }
            }

            LogBulkFinished(_owner._logger, Name, seat.Total, seat.Horizon);
            return true;

            async IAsyncEnumerable<IReadOnlyList<RecordedEvent>> ReadStreamsAsync([EnumeratorCancellation] CancellationToken token)
            {
                await foreach (var stream in seat.Streams.Reader.ReadAllAsync(token))
                {
                    read += stream.Count;
                    yield return stream;
                }

                readToTheEnd = true;
            }

            async Task WriteAsync(Func<ProjectionBatch, CancellationToken, Task> write, CancellationToken token)
            {
                // The scan has ended, so this is one of the replay's last writes: the indexes first.
                if (readToTheEnd) await BuildIndexesAsync(token);
                await using var connection = await DataSource.OpenConnectionAsync(token);
                await using var transaction = await connection.BeginTransactionAsync(token);
                if (await ExecuteAsync(connection, transaction, BulkWrite, token,
                        Text("name", Name), Attempt(), Bigint("events_done", Math.Min(read, seat.Total)), Bigint("events_total", seat.Total),
                        Bigint("horizon", seat.Horizon)) != 1)
                {
                    throw new BulkReplayAbandonedException();
                }

                await write(new ProjectionBatch(connection, transaction, [], Shadow), token);
                await transaction.CommitAsync(token);
            }
        }

        /// <summary>Applies the next events up to the live progression to the shadow tables, in one transaction.</summary>
        private async Task<Step> ReplayBatchAsync(CancellationToken cancellationToken)
        {
            await using var connection = await DataSource.OpenConnectionAsync(cancellationToken);
            await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
            // Read, not locked: the checkpoint row is locked only by the advance at the end, so live batches' fences (a
            // share lock on it) wait for a replay batch's commit, not for its whole length.
            var state = await ReadStateAsync(connection, cancellationToken);
            if (await ScalarAsync<long?>(connection, transaction, Current, cancellationToken, Text("name", Name), Attempt()) is not { } shadow)
            {
                LogAbandoned(_owner._logger, Name);
                return Step.Stop;
            }

            var live = state.LivePosition;
            var events = shadow < live ? await ReadEventsAsync(connection, transaction, Name, shadow, live, Options.BatchSize, cancellationToken) : [];
            // Read whole, so the page's end and the progress count stay those of the feed; applied only in the declared types.
            IReadOnlyList<RecordedEvent> handed = _types is null ? events : [.. events.Where(e => _types.Contains(e.Type))];
            if (handed.Count > 0)
            {
                if (await ApplyCatchingAsync(connection, transaction, handed, cancellationToken) is not null)
                {
                    await transaction.RollbackAsync(cancellationToken);
                    await IsolateFailureAsync(shadow, handed, cancellationToken);
                    return Step.Stop;
                }
            }

            // Fewer than a batch: there is nothing else at or below the live progression.
            var next = events.Count == Options.BatchSize ? events[^1].Position : Math.Max(shadow, live);
            if (await AdvanceAsync(connection, transaction, shadow, next, events.Count, live, cancellationToken) != 1)
            {
                LogAbandoned(_owner._logger, Name);
                return Step.Stop;
            }

            var remaining = await ScalarAsync<long>(connection, transaction, Gap, cancellationToken,
                Bigint("shadow_position", next), Bigint("live_position", live), Bigint("limit", Options.SwapWithin + 1L));
            await transaction.CommitAsync(cancellationToken);
            return remaining <= Options.SwapWithin ? Step.NearLive : Step.Continue;
        }

        /// <summary>The swap, in one transaction (see the class remarks for the lock order and why).</summary>
        private async Task<Step> TrySwapAsync(CancellationToken cancellationToken)
        {
            await using var connection = await DataSource.OpenConnectionAsync(cancellationToken);
            await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
            // Marten's batch updates its progression row first, then runs our writes, then the fence: the swap takes the
            // same order (progression row, live tables, checkpoint row), so the two wait for each other but never deadlock.
            await ExecuteAsync(connection, transaction,
                $"set local lock_timeout = {(long)Options.SwapLockTimeout.TotalMilliseconds}", cancellationToken);
            long live;
            try
            {
                if (_fill)
                {
                    await ExecuteAsync(connection, transaction, FillSwapProgression[0], cancellationToken, Text("shard", Shard));
                    if (await ScalarAsync<long?>(connection, transaction, FillSwapProgression[1], cancellationToken, Text("shard", Shard)) is not (0 or null))
                    {
                        // Another node's daemon ran the read model after all (its ownership lock was not this node's): its
                        // tables are current there, so the fill gives way and abandons its request.
                        LogFillOvertaken(_owner._logger, Name);
                        return Step.Stop;
                    }

                    live = await ScalarAsync<long>(connection, transaction, FillHorizon, cancellationToken);
                }
                else
                {
                    live = await ScalarAsync<long?>(connection, transaction, SwapProgression, cancellationToken, Text("shard", Shard)) ?? 0;
                }

                await ExecuteAsync(connection, transaction,
                    "lock table " + string.Join(", ", _tables.Select(t => t.Live)) + " in access exclusive mode", cancellationToken);
            }
            catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.LockNotAvailable)
            {
                LogSwapWaited(_owner._logger, Name);
                return Step.Wait;
            }

            await ExecuteAsync(connection, transaction, "set local lock_timeout = 0", cancellationToken);
            if (await ScalarAsync<long?>(connection, transaction, Lock, cancellationToken, Text("name", Name), Attempt()) is not { } shadow)
            {
                LogAbandoned(_owner._logger, Name);
                return Step.Stop;
            }

            if (live < shadow)
            {
                // Only a rewind of Marten's progression (an operator's) moves it back below what the shadow holds.
                throw new InvalidOperationException(
                    $"Projection '{Name}': Marten's progression ({live}) is behind the rebuild's shadow tables ({shadow}); the rebuild cannot swap.");
            }

            var applied = 0;
            while (shadow < live)
            {
                var events = await ReadEventsAsync(connection, transaction, Name, shadow, live, Options.BatchSize, cancellationToken);
                if (events.Count == 0) break;
                if (await ApplyCatchingAsync(connection, transaction, events, cancellationToken) is not null)
                {
                    await transaction.RollbackAsync(cancellationToken);
                    await IsolateFailureAsync(shadow, events, cancellationToken);
                    return Step.Stop;
                }

                applied += events.Count;
                shadow = events[^1].Position;
            }

            var from = (await ScalarAsync<long?>(connection, transaction, Current, cancellationToken, Text("name", Name), Attempt()))!.Value;
            if (await AdvanceAsync(connection, transaction, from, live, applied, live, cancellationToken) != 1) return Step.Stop;
            foreach (var table in _tables)
            {
                foreach (var statement in SwapTable) await ExecuteAsync(connection, transaction, Placeholders(statement, table), cancellationToken);
            }

            if (await ExecuteAsync(connection, transaction, Finish, cancellationToken, Text("name", Name), Attempt()) != 1) return Step.Stop;
            if (_fill) await ExecuteAsync(connection, transaction, FillProgression, cancellationToken, Text("shard", Shard), Bigint("live_position", live));
            await transaction.CommitAsync(cancellationToken);
            LogSwapped(_owner._logger, Name, live, applied);
            return Step.Swapped;
        }

        /// <summary>
        /// A batch threw: runs its events again one per transaction, so every event before the bad one lands and the
        /// rebuild stops exactly at the event that throws (an event that no longer throws alone just lands).
        /// </summary>
        private async Task IsolateFailureAsync(long from, IReadOnlyList<RecordedEvent> events, CancellationToken cancellationToken)
        {
            var shadow = from;
            foreach (var @event in events)
            {
                await using var connection = await DataSource.OpenConnectionAsync(cancellationToken);
                Exception? fault;
                await using (var transaction = await connection.BeginTransactionAsync(cancellationToken))
                {
                    if (await ScalarAsync<long?>(connection, transaction, Lock, cancellationToken, Text("name", Name), Attempt()) != shadow) return;
                    fault = await ApplyCatchingAsync(connection, transaction, [@event], cancellationToken);
                    if (fault is null)
                    {
                        if (await AdvanceAsync(connection, transaction, shadow, @event.Position, 1, @event.Position, cancellationToken) != 1) return;
                        await transaction.CommitAsync(cancellationToken);
                        shadow = @event.Position;
                        continue;
                    }

                    await transaction.RollbackAsync(cancellationToken);
                }

                await ExecuteAsync(connection, null, Fail, cancellationToken,
                    Text("name", Name), Attempt(), Text("error", $"{fault.GetType().FullName}: {fault.Message}"),
                    new NpgsqlParameter<Guid>("event_id", @event.EventId), Bigint("failed_position", @event.Position));
                LogFailed(_owner._logger, fault, Name, @event.EventId, @event.Position);
                return;
            }
        }

        /// <summary>Applies the events to the shadow tables; returns the projection's own fault, lets infrastructure failures propagate.</summary>
        private async Task<Exception?> ApplyCatchingAsync(
            NpgsqlConnection connection, NpgsqlTransaction transaction, IReadOnlyList<RecordedEvent> events, CancellationToken cancellationToken)
        {
            try
            {
                await _projection.ApplyAsync(new ProjectionBatch(connection, transaction, events, Shadow), cancellationToken);
                return null;
            }
            catch (Exception e) when (IsProjectionFault(e, connection, cancellationToken))
            {
                return e;
            }
        }

        private Task<int> AdvanceAsync(
            NpgsqlConnection connection, NpgsqlTransaction transaction, long from, long to, int events, long live, CancellationToken cancellationToken) =>
            ExecuteAsync(connection, transaction, Advance, cancellationToken,
                Text("name", Name), Attempt(), Bigint("from_position", from), Bigint("shadow_position", to), Bigint("events", events),
                Bigint("live_position", live));

        private string Shadow(string logical) =>
            _byLogical.TryGetValue(logical, out var table)
                ? table.Shadow
                : throw new InvalidOperationException($"Projection '{Name}' wrote to '{logical}', which is not one of its Tables.");

        private NpgsqlParameter Attempt() => new NpgsqlParameter<Guid>("attempt", _attempt);

        private static async Task<IReadOnlyList<RecordedEvent>> ReadEventsAsync(
            NpgsqlConnection connection, NpgsqlTransaction transaction, string name, long after, long upTo, int maxCount, CancellationToken cancellationToken)
        {
            await using var command = new NpgsqlCommand(Events, connection, transaction);
            command.Parameters.Add(Text("name", name));
            command.Parameters.Add(Bigint("after_position", after));
            command.Parameters.Add(Bigint("up_to", upTo));
            command.Parameters.Add(Bigint("max_count", maxCount));
            var events = new List<RecordedEvent>();
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken)) events.Add(EventStore.ReadRecordedEvent(reader));
            return events;
        }

        private static string Placeholders(string sql, ProjectionTable table) => sql
            .Replace("{live}", table.Live, StringComparison.Ordinal)
            .Replace("{shadow}", table.Shadow, StringComparison.Ordinal)
            .Replace("{old}", table.Old, StringComparison.Ordinal)
            .Replace("{old_name}", ProjectionTable.Quote(table.OldName), StringComparison.Ordinal)
            .Replace("{live_name}", ProjectionTable.Quote(table.Name), StringComparison.Ordinal);
    }

    /// <summary>A rebuild's request (<paramref name="Fill"/>: a fill's), its shadow position and its horizon.</summary>
    private sealed record RebuildState(bool Requested, long? ShadowPosition, bool Fill, long LivePosition);

    private enum Step
    {
        Continue,
        NearLive,
        Wait,
        Swapped,
        Stop,
    }

    /// <summary>
    /// Whether an exception is the projection's own fault (stop it, visibly) rather than the infrastructure's (retry
    /// later): decided by the connection's state, cancellation and SqlState, never by message text.
    /// </summary>
    internal static bool IsProjectionFault(Exception e, NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        if (connection.FullState.HasFlag(ConnectionState.Broken) || connection.State != ConnectionState.Open) return false;
        return IsProjectionFault(e, cancellationToken);
    }

    /// <summary><see cref="IsProjectionFault(Exception, NpgsqlConnection, CancellationToken)"/> where no one connection is in question.</summary>
    internal static bool IsProjectionFault(Exception e, CancellationToken cancellationToken)
    {
        if (cancellationToken.IsCancellationRequested) return false;
        return e switch
        {
            // Serialization failures and deadlocks (class 40), resources (53), operator intervention (57P), connection (08).
            PostgresException pg => !(pg.SqlState.StartsWith("40", StringComparison.Ordinal) || pg.SqlState.StartsWith("53", StringComparison.Ordinal)
                || pg.SqlState.StartsWith("57P", StringComparison.Ordinal) || pg.SqlState.StartsWith("08", StringComparison.Ordinal)),
            NpgsqlException npgsql => !npgsql.IsTransient,
            _ => true,
        };
    }

    internal static NpgsqlParameter Text(string name, string value) => new NpgsqlParameter<string>(name, NpgsqlDbType.Text) { TypedValue = value };

    internal static NpgsqlParameter Bigint(string name, long value) => new NpgsqlParameter<long>(name, NpgsqlDbType.Bigint) { TypedValue = value };

    internal static async Task<int> ExecuteAsync(
        NpgsqlConnection connection, NpgsqlTransaction? transaction, string sql, CancellationToken cancellationToken, params NpgsqlParameter[] parameters)
    {
        await using var command = new NpgsqlCommand(sql, connection, transaction);
        command.Parameters.AddRange(parameters);
        return await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private static async Task<T?> ScalarAsync<T>(
        NpgsqlConnection connection, NpgsqlTransaction? transaction, string sql, CancellationToken cancellationToken, params NpgsqlParameter[] parameters)
    {
        await using var command = new NpgsqlCommand(sql, connection, transaction);
        command.Parameters.AddRange(parameters);
        var value = await command.ExecuteScalarAsync(cancellationToken);
        return value is null or DBNull ? default : (T)value;
    }

    private static string Read(string fileName) => SqlResources.Read(typeof(ProjectionRebuild).Assembly, fileName);

    [LoggerMessage(Level = LogLevel.Information, Message = "Projection {Projection}: rebuild started, replay batches into shadow tables.")]
    private static partial void LogStarted(ILogger logger, string projection);

    [LoggerMessage(Level = LogLevel.Information, Message = "Projection {Projection}: rebuild carried on from shadow position {Position}.")]
    private static partial void LogResumed(ILogger logger, string projection, long position);

    [LoggerMessage(Level = LogLevel.Information, Message = "Projection {Projection}: rebuild started, bulk replay into shadow tables.")]
    private static partial void LogBulkStarted(ILogger logger, string projection);

    [LoggerMessage(Level = LogLevel.Information, Message = "Projection {Projection}: bulk replay wrote {Events} events up to {Position}; replay batches carry on from there.")]
    private static partial void LogBulkFinished(ILogger logger, string projection, long events, long position);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Projection {Projection}: the bulk replay threw; the rebuild carries on with replay batches from the start, which stop at the event that throws.")]
    private static partial void LogBulkFailed(ILogger logger, Exception exception, string projection);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Projection {Projection}: this rebuild attempt is no longer the current one; it stopped without writing.")]
    private static partial void LogAbandoned(ILogger logger, string projection);

    [LoggerMessage(Level = LogLevel.Information, Message = "Projection {Projection}: the swap waited too long for the live tables' lock; it tries again.")]
    private static partial void LogSwapWaited(ILogger logger, string projection);

    [LoggerMessage(Level = LogLevel.Information, Message = "Projection {Projection}: rebuild swapped in at position {Position} ({Applied} events applied in the swap).")]
    private static partial void LogSwapped(ILogger logger, string projection, long position, int applied);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Projection {Projection}: a daemon moved its progression during the fill; the fill gives way and abandons its request.")]
    private static partial void LogFillOvertaken(ILogger logger, string projection);

    [LoggerMessage(Level = LogLevel.Information, Message = "Projection {Projection}: a fill stopped half-way had left its request behind; abandoned, its shadow tables dropped: the daemon runs the read model from its progression.")]
    private static partial void LogFillAbandoned(ILogger logger, string projection);

    [LoggerMessage(Level = LogLevel.Error, Message = "Projection {Projection}: the rebuild failed on event {EventId} at position {Position}; it stops until retried or skipped.")]
    private static partial void LogFailed(ILogger logger, Exception exception, string projection, Guid eventId, long position);
}
