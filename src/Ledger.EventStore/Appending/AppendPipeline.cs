using System.Diagnostics;
using System.Threading.Channels;
using Npgsql;

namespace Ledger.EventStore.Appending;

/// <summary>
/// Group commit. Appends queue here; a few writers each take whatever is waiting, up to a limit, and append it in one
/// transaction. Nothing waits on a timer: while one batch commits, the next one fills, so batches grow with load and a
/// lone append goes out at once.
/// </summary>
internal sealed class AppendPipeline : IAsyncDisposable
{
    private readonly NpgsqlDataSource _dataSource;
    private readonly MartenEvents _marten;
    private readonly EventStoreOptions _options;
    private readonly Channel<PreparedRequest> _queue;
    private readonly Task[] _writers;

    public AppendPipeline(NpgsqlDataSource dataSource, MartenEvents marten, EventStoreOptions options)
    {
        _dataSource = dataSource;
        _marten = marten;
        _options = options;
        _queue = Channel.CreateBounded<PreparedRequest>(new BoundedChannelOptions(options.QueueCapacity)
        {
            SingleWriter = false,
            SingleReader = options.Writers == 1,
        });
        // The writers outlive whoever built the store: they must not carry its execution context, or every batch would
        // join the trace (Activity.Current) of the request that happened to build it.
        using (ExecutionContext.SuppressFlow())
        {
            _writers = Enumerable.Range(0, Math.Max(1, options.Writers)).Select(_ => Task.Run(WriteLoopAsync)).ToArray();
        }
    }

    /// <summary>Appends waiting for a writer (for tests and metrics).</summary>
    public int QueuedCount => _queue.Reader.Count;

    /// <summary>Observed after each batch (requests, events), for metrics.</summary>
    public event Action<int, int>? BatchCommitted;

    public async Task<IReadOnlyList<AppendResult>> AppendAsync(PreparedRequest request)
    {
        await _queue.Writer.WriteAsync(request, request.CancellationToken);
        return await request.Completion;
    }

    private async Task WriteLoopAsync()
    {
        // Requests that could not join the previous batch because it already touched one of their streams or event ids.
        // They go first next time, so a stream's appends keep their arrival order.
        var deferred = new List<PreparedRequest>();
        while (true)
        {
            if (deferred.Count == 0 && !await _queue.Reader.WaitToReadAsync(CancellationToken.None)) return;

            var batch = new List<PreparedRequest>();
            var streams = new HashSet<string>(StringComparer.Ordinal);
            var eventIds = new HashSet<Guid>();
            var events = 0;

            bool TryJoin(PreparedRequest request)
            {
                if (batch.Count > 0 && (request.StreamIds.Overlaps(streams) || request.EventIds.Overlaps(eventIds))) return false;
                batch.Add(request);
                streams.UnionWith(request.StreamIds);
                eventIds.UnionWith(request.EventIds);
                events += request.EventCount;
                return true;
            }

            bool Full() => batch.Count >= _options.MaxBatchRequests || events >= _options.MaxBatchEvents;

            var carried = deferred;
            deferred = [];
            foreach (var request in carried)
            {
                if (Full() || !TryJoin(request)) deferred.Add(request);
            }

            while (!Full() && _queue.Reader.TryRead(out var next))
            {
                if (!TryJoin(next)) deferred.Add(next);
            }

            batch.RemoveAll(r =>
            {
                if (!r.CancellationToken.IsCancellationRequested) return false;
                r.Cancel();
                return true;
            });
            if (batch.Count > 0) await ExecuteAsync(batch);
        }
    }

    private async Task ExecuteAsync(List<PreparedRequest> batch)
    {
        using var activity = StartActivity(batch);
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                foreach (var outcome in await RunTransactionAsync(batch))
                {
                    if (outcome.Error is null) outcome.Request.Succeed(outcome.Results!);
                    else outcome.Request.Fail(outcome.Error);
                }

                BatchCommitted?.Invoke(batch.Count, batch.Sum(r => r.EventCount));
                return;
            }
            catch (Exception e) when (MartenFailures.PostgresCause(e) is { } postgres && IsWorthRetrying(postgres) && attempt < _options.TransientRetries)
            {
                // Nothing was committed; the same batch is safe to run again. After an event-id race the id lookup now
                // finds the other append's event and answers this request precisely (a replay or a conflict).
            }
            catch (Exception e) when (batch.Count > 1 && IsCausedByARequest(e))
            {
                // One request's data broke the whole transaction (a constraint, a projection that threw). Run each
                // request alone so that only the one at fault is refused.
                foreach (var request in batch) await ExecuteAsync([request]);
                return;
            }
            catch (Exception e)
            {
                // Callers see what the database said: Marten's wrapper (MartenCommandException) is this store's detail.
                var error = MartenFailures.NpgsqlCause(e) ?? e;
                activity?.SetStatus(ActivityStatusCode.Error, error.GetType().Name);
                foreach (var request in batch) request.Fail(error);
                return;
            }
        }
    }

    /// <summary>
    /// The transaction's span; Npgsql's command spans nest under it. A batch of one continues its request's trace. A
    /// batch of several serves them all, so it starts a trace of its own with a link to each request's span
    /// (OpenTelemetry's convention for batching); the request's own trace still shows its wait in the handler's span.
    /// </summary>
    private static Activity? StartActivity(List<PreparedRequest> batch)
    {
        if (!EventStoreInstrumentation.Source.HasListeners()) return null;
        var parent = batch.Count == 1 ? batch[0].TraceContext : default;
        var links = batch.Count == 1 ? null : batch.Where(r => r.TraceContext != default).Select(r => new ActivityLink(r.TraceContext)).ToList();
        var activity = EventStoreInstrumentation.Source.StartActivity("eventstore.group_commit", ActivityKind.Internal, parent, links: links);
        activity?.SetTag("eventstore.group_commit.requests", batch.Count);
        activity?.SetTag("eventstore.group_commit.events", batch.Sum(r => r.EventCount));
        return activity;
    }

    private async Task<IReadOnlyList<RequestOutcome>> RunTransactionAsync(List<PreparedRequest> batch)
    {
        // Once a batch has been taken it runs to the end: cancelling part of a transaction would break its neighbours.
        var cancellationToken = CancellationToken.None;
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var outcomes = await AppendTransaction.ExecuteAsync(connection, transaction, batch, _options, _marten, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return outcomes;
    }

    /// <summary>
    /// Errors that come from what a request carried rather than from the database being unavailable: data exceptions
    /// (class 22), constraint violations (23), errors raised by SQL code (P0), and anything an inline projection throws.
    /// Marten wraps what PostgreSQL and Npgsql raise (MartenCommandException): it is judged by its cause.
    /// </summary>
    private static bool IsCausedByARequest(Exception e) => (MartenFailures.PostgresCause(e) ?? MartenFailures.NpgsqlCause(e) ?? e) switch
    {
        PostgresException pg => pg.SqlState.StartsWith("22", StringComparison.Ordinal)
                                || pg.SqlState.StartsWith("23", StringComparison.Ordinal)
                                || pg.SqlState.StartsWith("P0", StringComparison.Ordinal),
        NpgsqlException or TimeoutException or OperationCanceledException or ObjectDisposedException => false,
        _ => true,
    };

    /// <summary>
    /// Failures after which the same batch may well succeed: serialization failures and deadlocks; an event-id race
    /// with another node (Marten's unique index on event ids; the rerun's lookup then finds the other node's event); and
    /// a table that an inline projection writes being swapped by a blue/green rebuild at that very moment (42P01), which
    /// a fresh transaction resolves by name again. Decided by SqlState and constraint, never by message text.
    /// </summary>
    private static bool IsWorthRetrying(PostgresException e) =>
        e.SqlState is PostgresErrorCodes.SerializationFailure or PostgresErrorCodes.DeadlockDetected or PostgresErrorCodes.UndefinedTable
        || e is { SqlState: PostgresErrorCodes.UniqueViolation, ConstraintName: MartenSetup.EventIdIndex };

    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        await Task.WhenAll(_writers);
    }
}
