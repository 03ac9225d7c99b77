using Npgsql;
using NpgsqlTypes;

namespace Ledger.EventStore.Projections;

/// <summary>Whether a projection is processing events.</summary>
public enum ProjectionState
{
    /// <summary>Processing events (or waiting for them).</summary>
    Running,

    /// <summary>Stopped at an event it threw on, until an operator retries or skips it.</summary>
    Failed,
}

/// <summary>Where a projection stands, as an operator or a health check sees it.</summary>
/// <param name="Name">The projection.</param>
/// <param name="Cursor">The live tables hold every event up to and including this feed cursor: Marten's progression of the
/// shard <c>name:All</c> (<c>mt_event_progression.last_seq_id</c>).</param>
/// <param name="State">Running or failed.</param>
/// <param name="LagEvents">Events stored after the cursor.</param>
/// <param name="Lag">Age of the oldest event not yet applied (zero when caught up).</param>
/// <param name="OwnerNode">The node whose daemon applied its last batch (null before the first).</param>
/// <param name="OwnerSince">Since when that node has been applying its batches.</param>
/// <param name="Failure">Why and where it stopped, when failed.</param>
/// <param name="Rebuild">The rebuild in progress, if any.</param>
/// <param name="LastRebuildFinishedAt">When the last rebuild swapped its tables in.</param>
/// <param name="UpdatedAt">When the checkpoint last changed.</param>
public sealed record ProjectionStatus(
    string Name, FeedCursor Cursor, ProjectionState State, long LagEvents, TimeSpan Lag, string? OwnerNode, DateTimeOffset? OwnerSince,
    ProjectionFailure? Failure, RebuildProgress? Rebuild, DateTimeOffset? LastRebuildFinishedAt, DateTimeOffset UpdatedAt);

/// <summary>Why and where a projection stopped.</summary>
/// <param name="Error">What the projection threw (type and message).</param>
/// <param name="EventId">The event it threw on.</param>
/// <param name="Position">That event's global position.</param>
/// <param name="FailedAt">When.</param>
/// <param name="DuringRebuild">True when it threw while replaying into the shadow tables of a rebuild.</param>
/// <param name="Category">For a subscription, Marten's classification of the failure: <c>ApplyEvent</c> (its code threw on
/// an event), <c>EventSerialization</c>, <c>UnknownEventType</c>, <c>ProgressionOutOfOrder</c> or <c>Other</c> (the database,
/// a timeout, ...). Null for a read model, whose failures are always its own (ProjectionFaults).</param>
public sealed record ProjectionFailure(string? Error, Guid? EventId, long? Position, DateTimeOffset? FailedAt, bool DuringRebuild, string? Category = null);

/// <summary>A rebuild requested or in progress.</summary>
/// <param name="RequestedAt">When it was requested.</param>
/// <param name="StartedAt">When the owner created the shadow tables and began replaying (null while waiting to start).</param>
/// <param name="ShadowCursor">How far the replay has got.</param>
/// <param name="EventsDone">Events replayed so far.</param>
/// <param name="EventsTotal">Events to replay, as counted at the start and grown with the feed since.</param>
/// <param name="EventsPerSecond">Average replay rate since the start.</param>
/// <param name="EstimatedRemaining">Time left at that rate (null before there is a rate).</param>
public sealed record RebuildProgress(
    DateTimeOffset RequestedAt, DateTimeOffset? StartedAt, FeedCursor? ShadowCursor, long EventsDone, long EventsTotal,
    double EventsPerSecond, TimeSpan? EstimatedRemaining);

/// <summary>
/// Whether a subscription is being run: by which node is the database's to tell (who holds its HotCold lock), how it
/// goes there is what that node's daemon last recorded (<c>mt_event_progression.agent_status</c>, Marten's extended
/// progression tracking).
/// </summary>
public enum SubscriptionState
{
    /// <summary>A node holds it and its daemon runs it (processing events or waiting for them).</summary>
    Running,

    /// <summary>
    /// Paused after a batch failed: the daemon of the node that holds it starts it again from its progression after its
    /// pause (Marten's <c>AgentPauseTime</c>, 5 s), so a subscription that fails on every attempt stays mostly paused.
    /// </summary>
    Paused,

    /// <summary>
    /// Not being run: no node holds it (its node shut down, died or lost it and no other has taken it yet, which takes up
    /// to about 7.5 s; or no node runs the daemon), or the daemon of the node holding it stopped it (Marten stops a shard
    /// whose progression another node moved).
    /// </summary>
    Stopped,
}

/// <summary>Where an integration subscription (a Marten subscription run by the daemon beside the read models) stands.</summary>
/// <param name="Name">The subscription (its shard is <c>name:All</c>).</param>
/// <param name="Cursor">It has processed every event up to and including this cursor (its progression; 0 before its first batch).</param>
/// <param name="State">Whether a node runs it, and how it goes there.</param>
/// <param name="LagEvents">Events stored after the cursor.</param>
/// <param name="Lag">Age of the oldest event not yet processed (zero when caught up).</param>
/// <param name="OwnerNode">The node holding its HotCold lock now, which is the one that runs it (null: no node does).</param>
/// <param name="Failure">Why it is paused or stopped, when the daemon recorded a failure since it last started it (never
/// <see cref="ProjectionFailure.DuringRebuild"/>: subscriptions are not rebuilt).</param>
/// <param name="StateSince">When the daemon last recorded a start, pause or stop (null before it recorded anything).</param>
/// <param name="UpdatedAt">When its progression last moved (null before its first batch).</param>
public sealed record SubscriptionStatus(
    string Name, FeedCursor Cursor, SubscriptionState State, long LagEvents, TimeSpan Lag, string? OwnerNode,
    ProjectionFailure? Failure, DateTimeOffset? StateSince, DateTimeOffset? UpdatedAt);

/// <summary>What <see cref="ProjectionAdmin.SkipAsync"/> moved past.</summary>
/// <param name="EventId">The skipped event.</param>
/// <param name="Position">Its global position.</param>
/// <param name="Error">What the projection had thrown on it.</param>
public sealed record SkippedEvent(Guid EventId, long Position, string? Error);

/// <summary>
/// Operations on projections that need only the database, so any node, the CLI or an HTTP endpoint can call them: status,
/// read-your-writes waits, retry and skip after a failure, rebuild requests. The owner's daemon acts on what they record.
/// </summary>
public sealed class ProjectionAdmin
{
    private readonly NpgsqlDataSource _dataSource;
    private readonly TimeProvider _time;

    /// <summary>Creates the admin over the process's data source.</summary>
    public ProjectionAdmin(NpgsqlDataSource dataSource, TimeProvider? timeProvider = null)
    {
        _dataSource = dataSource ?? throw new ArgumentNullException(nameof(dataSource));
        _time = timeProvider ?? TimeProvider.System;
    }

    /// <summary>Every projection's status (those with a checkpoint, i.e. run by a daemon at least once), by name.</summary>
    public async Task<IReadOnlyList<ProjectionStatus>> GetStatusAsync(CancellationToken cancellationToken = default) =>
        await ReadStatusAsync(null, cancellationToken);

    /// <summary>One projection's status, or null when it has no checkpoint.</summary>
    public async Task<ProjectionStatus?> GetStatusAsync(string name, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(name);
        return (await ReadStatusAsync(name, cancellationToken)).SingleOrDefault();
    }

    /// <summary>
    /// The status of each of the named subscriptions (Marten subscriptions the daemon runs beside the read models), in the
    /// order given: what the daemon records of them, their lag, and the node that holds each now.
    /// </summary>
    public async Task<IReadOnlyList<SubscriptionStatus>> GetSubscriptionStatusAsync(
        IReadOnlyList<string> names, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(names);
        if (names.Count == 0) return [];
        return await PreparedRead.ListAsync(_dataSource, ProjectionSql.SubscriptionStatus, p =>
        {
            p.Add(new NpgsqlParameter<string[]>("names", NpgsqlDbType.Array | NpgsqlDbType.Text) { TypedValue = [.. names] });
            p.Add(new NpgsqlParameter<long[]>("lock_keys", NpgsqlDbType.Array | NpgsqlDbType.Bigint) { TypedValue = [.. names.Select(MartenSetup.OwnershipLockKey)] });
        }, ReadSubscriptionStatus, cancellationToken);
    }

    /// <summary>
    /// A command that answers, each time it runs, how stale the named read models or subscriptions are: the age in seconds
    /// of the oldest event after any of their progressions (0 when all are at the head), the service's own rule for
    /// <c>lagSeconds</c>, without counting the events behind. For samplers that run often (the benchmark, the daemon
    /// probe); set its connection.
    /// </summary>
    public static NpgsqlCommand CreateLagSample(IEnumerable<string> names)
    {
        ArgumentNullException.ThrowIfNull(names);
        var command = new NpgsqlCommand(ProjectionSql.LagSample);
        command.Parameters.Add(new NpgsqlParameter<string[]>("names", NpgsqlDbType.Array | NpgsqlDbType.Text) { TypedValue = [.. names] });
        return command;
    }

    /// <summary>
    /// Adds the read of one projection's status to <paramref name="batch"/>, for a report that reads it in the same round
    /// trip as its rows and before them (issue 15, P5): after the batch, one row, or none when it has no checkpoint.
    /// </summary>
    public static PreparedBatch.Read<ProjectionStatus> AddStatusRead(PreparedBatch batch, string name)
    {
        ArgumentNullException.ThrowIfNull(batch);
        ArgumentNullException.ThrowIfNull(name);
        return batch.Add(ProjectionSql.Status, p => p.Add(new NpgsqlParameter<string?>("name", NpgsqlDbType.Text) { TypedValue = name }), ReadStatus);
    }

    /// <summary>
    /// Waits until the projection has applied the event at <paramref name="target"/> (read-your-writes: pass the cursor of
    /// the last event you appended, see <see cref="CursorOfPositionAsync"/>), as Marten's progression of its shard shows.
    /// Returns whether it got there in time.
    /// </summary>
    public async Task<bool> WaitForAsync(string name, FeedCursor target, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(name);
        var deadline = _time.GetTimestamp() + (long)(timeout.TotalSeconds * _time.TimestampFrequency);
        var pause = TimeSpan.FromMilliseconds(5);
        while (true)
        {
            await using (var command = _dataSource.CreateCommand(ProjectionSql.CursorRead))
            {
                command.Parameters.Add(ProjectionRebuild.Text("name", name));
                await using var reader = await command.ExecuteReaderAsync(cancellationToken);
                if (await reader.ReadAsync(cancellationToken) && new FeedCursor(reader.GetInt64(0)) >= target) return true;
            }

            var left = _time.GetElapsedTime(_time.GetTimestamp(), deadline);
            if (left <= TimeSpan.Zero) return false;
            await Task.Delay(pause < left ? pause : left, _time, cancellationToken);
            pause = TimeSpan.FromMilliseconds(Math.Min(100, pause.TotalMilliseconds * 2));
        }
    }

    /// <summary>
    /// The feed cursor of the event at a global position (as returned by an append): the position itself, or null if no
    /// event is stored there.
    /// </summary>
    public async Task<FeedCursor?> CursorOfPositionAsync(long position, CancellationToken cancellationToken = default)
    {
        await using var command = _dataSource.CreateCommand(ProjectionSql.CursorOfPosition);
        command.Parameters.Add(ProjectionRebuild.Bigint("position", position));
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken) ? new FeedCursor(reader.GetInt64(0)) : null;
    }

    /// <summary>
    /// Runs a failed projection again from its position (after fixing its code or data): the node running it restarts
    /// it at once. False if it was not failed.
    /// </summary>
    public async Task<bool> RetryAsync(string name, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(name);
        return await ChangeAndNotifyAsync(name, ProjectionSql.Retry, cancellationToken);
    }

    /// <summary>
    /// Moves a failed projection past exactly the event it failed on, records the skip in <c>ledger.projection_skips</c>
    /// with <paramref name="by"/>, and runs it again: the events of the failed batch before and after that event are
    /// applied, that one never is. Returns the skipped event, or null if the projection was not failed.
    /// </summary>
    /// <exception cref="SkipRefusedException">The recorded failure does not name an event still ahead of the projection
    /// (nothing is changed).</exception>
    public async Task<SkippedEvent?> SkipAsync(string name, string by, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentException.ThrowIfNullOrWhiteSpace(by);
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        Guid eventId;
        long eventPosition;
        string? error;
        bool inRebuild;
        await using (var read = new NpgsqlCommand(ProjectionSql.SkipRead, connection, transaction))
        {
            read.Parameters.Add(ProjectionRebuild.Text("name", name));
            await using var reader = await read.ExecuteReaderAsync(cancellationToken);
            if (!await reader.ReadAsync(cancellationToken) || reader.GetString(0) != "failed" || reader.IsDBNull(2)) return null;
            eventPosition = reader.GetInt64(2);
            if (reader.IsDBNull(6)) throw new SkipRefusedException($"Projection '{name}' failed on position {eventPosition}, which holds no event.");
            eventId = reader.GetGuid(6);
            // The row is locked, and while it says failed the projection applies nothing: its position cannot move past
            // the failed event under this check.
            var position = reader.GetInt64(5);
            if (reader.IsDBNull(1) || reader.GetGuid(1) != eventId || eventPosition <= position)
            {
                throw new SkipRefusedException(
                    $"Projection '{name}' is at {position}, and its recorded failure does not name the event at {eventPosition} ahead of it: refusing to skip anything else.");
            }

            inRebuild = reader.GetBoolean(3);
            error = reader.IsDBNull(4) ? null : reader.GetString(4);
        }

        await using (var batch = new NpgsqlBatch(connection, transaction))
        {
            foreach (var sql in ProjectionSql.SkipApply)
            {
                var command = new NpgsqlBatchCommand(sql);
                command.Parameters.Add(ProjectionRebuild.Text("name", name));
                command.Parameters.Add(new NpgsqlParameter<Guid>("event_id", eventId));
                command.Parameters.Add(ProjectionRebuild.Bigint("event_position", eventPosition));
                command.Parameters.Add(new NpgsqlParameter<string?>("error", NpgsqlDbType.Text) { TypedValue = error });
                command.Parameters.Add(new NpgsqlParameter<bool>("in_rebuild", inRebuild));
                command.Parameters.Add(ProjectionRebuild.Text("skipped_by", by));
                batch.BatchCommands.Add(command);
            }

            await batch.ExecuteNonQueryAsync(cancellationToken);
        }

        await NotifyAsync(connection, transaction, name, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return new SkippedEvent(eventId, eventPosition, error);
    }

    /// <summary>
    /// Asks for a blue/green rebuild of the projection: <see cref="ProjectionRebuild.RunIfRequestedAsync"/>, on whichever
    /// node gets the projection's rebuild lock, replays the store into shadow tables while the live ones keep answering,
    /// then swaps them in. False if a rebuild is already requested or running, or the projection has no checkpoint row.
    /// </summary>
    public async Task<bool> RequestRebuildAsync(string name, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(name);
        return await ChangeAndNotifyAsync(name, ProjectionSql.RequestRebuild, cancellationToken);
    }

    private async Task<bool> ChangeAndNotifyAsync(string name, string sql, CancellationToken cancellationToken)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        if (await ProjectionRebuild.ExecuteAsync(connection, transaction, sql, cancellationToken, ProjectionRebuild.Text("name", name)) != 1) return false;
        await NotifyAsync(connection, transaction, name, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return true;
    }

    private static async Task NotifyAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string name, CancellationToken cancellationToken) =>
        await ProjectionRebuild.ExecuteAsync(connection, transaction, ProjectionSql.Notify, cancellationToken, ProjectionRebuild.Text("name", name));

    // Every report request reads its read model's status (X-Ledger-Position), and planning it (the view over mt_events,
    // two correlated subqueries) cost about 0.85 ms against 0.17 ms of execution, hence prepared. Issue 15; benchmarks.md.
    private async Task<IReadOnlyList<ProjectionStatus>> ReadStatusAsync(string? name, CancellationToken cancellationToken) =>
        await PreparedRead.ListAsync(_dataSource, ProjectionSql.Status,
            p => p.Add(new NpgsqlParameter<string?>("name", NpgsqlDbType.Text) { TypedValue = name }), ReadStatus, cancellationToken);

    private static ProjectionStatus ReadStatus(NpgsqlDataReader reader)
    {
        var now = reader.GetFieldValue<DateTimeOffset>(19);
        var failed = reader.GetString(2) == "failed";
        var failure = failed
            ? new ProjectionFailure(Nullable<string>(reader, 3), NullableValue<Guid>(reader, 4), NullableValue<long>(reader, 5),
                NullableValue<DateTimeOffset>(reader, 6), reader.GetBoolean(7))
            : null;
        RebuildProgress? rebuild = null;
        if (NullableValue<DateTimeOffset>(reader, 10) is { } requestedAt)
        {
            var startedAt = NullableValue<DateTimeOffset>(reader, 11);
            FeedCursor? shadow = NullableValue<long>(reader, 12) is { } shadowPosition ? new FeedCursor(shadowPosition) : null;
            var done = NullableValue<long>(reader, 13) ?? 0;
            var total = NullableValue<long>(reader, 14) ?? 0;
            var elapsed = startedAt is { } s ? (now - s).TotalSeconds : 0;
            var rate = elapsed > 0 ? done / elapsed : 0;
            TimeSpan? eta = rate > 0 ? TimeSpan.FromSeconds(Math.Max(0, total - done) / rate) : null;
            rebuild = new RebuildProgress(requestedAt, startedAt, shadow, done, total, rate, eta);
        }

        var oldest = NullableValue<DateTimeOffset>(reader, 18);
        var lag = oldest is { } o && now > o ? now - o : TimeSpan.Zero;
        return new ProjectionStatus(
            reader.GetString(0), new FeedCursor(reader.GetInt64(1)),
            failed ? ProjectionState.Failed : ProjectionState.Running, reader.GetInt64(17), lag,
            Nullable<string>(reader, 8), NullableValue<DateTimeOffset>(reader, 9), failure, rebuild,
            NullableValue<DateTimeOffset>(reader, 15), reader.GetFieldValue<DateTimeOffset>(16));
    }

    private static SubscriptionStatus ReadSubscriptionStatus(NpgsqlDataReader reader)
    {
        var now = reader.GetFieldValue<DateTimeOffset>(12);
        var owner = Nullable<string>(reader, 11);
        // Whether a node runs it is the lock's to say: a node that shuts down or dies does not always get to record that
        // it stopped. How it goes there is the daemon's (AgentStatus's names, as Marten writes them; null before it has
        // recorded anything of the shard).
        var state = owner is null
            ? SubscriptionState.Stopped
            : Nullable<string>(reader, 2) switch
            {
                "Paused" => SubscriptionState.Paused,
                "Stopped" => SubscriptionState.Stopped,
                _ => SubscriptionState.Running,
            };
        var reason = Nullable<string>(reader, 3);
        var category = Nullable<string>(reader, 4);
        // A start clears the failure columns but not the pause reason, so the failure is shown only while it is not running.
        var failure = state != SubscriptionState.Running && (reason is not null || category is not null)
            ? new ProjectionFailure(FirstLine(reason), NullableValue<Guid>(reader, 6), NullableValue<long>(reader, 5),
                NullableValue<DateTimeOffset>(reader, 7), DuringRebuild: false, category)
            : null;
        var oldest = NullableValue<DateTimeOffset>(reader, 10);
        var lag = oldest is { } o && now > o ? now - o : TimeSpan.Zero;
        return new SubscriptionStatus(
            reader.GetString(0), new FeedCursor(reader.GetInt64(1)), state, reader.GetInt64(9), lag, owner, failure,
            NullableValue<DateTimeOffset>(reader, 7), NullableValue<DateTimeOffset>(reader, 8));
    }

    // Marten's pause reason is the exception's ToString(): its first line is "Type: message", the rest a stack trace.
    private static string? FirstLine(string? text) =>
        text is null ? null : text.Split('\n', 2)[0].TrimEnd('\r');

    private static T? Nullable<T>(NpgsqlDataReader reader, int ordinal) where T : class =>
        reader.IsDBNull(ordinal) ? null : reader.GetFieldValue<T>(ordinal);

    private static T? NullableValue<T>(NpgsqlDataReader reader, int ordinal) where T : struct =>
        reader.IsDBNull(ordinal) ? null : reader.GetFieldValue<T>(ordinal);
}
