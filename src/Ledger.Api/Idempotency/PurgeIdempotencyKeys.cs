using System.Globalization;
using Ledger.Api.ServiceDefaults;
using Ledger.Api.ServiceDefaults.Messaging;
using Wolverine;
using Wolverine.Attributes;
using Wolverine.ErrorHandling;
using Wolverine.Runtime;
using Wolverine.Runtime.Handlers;

namespace Ledger.Api.Idempotency;

/// <summary>
/// Forget the Idempotency-Keys past their retention: Wolverine scheduled work (issue 13), one run per hour across all
/// nodes. Each run schedules the next one, durably, in Wolverine's inbox; its id follows from its hour
/// (<see cref="IHasMessageId"/>), so nodes that schedule the same hour store it once and it runs once. A run missed while
/// every node was down runs when one comes back.
/// </summary>
/// <param name="Due">The hour this run is for.</param>
[MessageIdentity("ledger.purge-idempotency-keys")]
[MessageIdFromBody]
public sealed record PurgeIdempotencyKeys(DateTimeOffset Due) : IHasMessageId
{
    /// <summary>How often the keys are purged.</summary>
    public static readonly TimeSpan Interval = TimeSpan.FromHours(1);

    /// <inheritdoc/>
    public Guid MessageId => NameBasedId.From("ledger.purge-idempotency-keys", Due.UtcDateTime.ToString("O", CultureInfo.InvariantCulture));

    /// <summary>The run due at the first full hour after <paramref name="now"/>.</summary>
    public static PurgeIdempotencyKeys After(DateTimeOffset now)
    {
        var hour = new DateTimeOffset(now.UtcDateTime.Date, TimeSpan.Zero).AddHours(now.UtcDateTime.Hour);
        return new PurgeIdempotencyKeys(hour + Interval);
    }
}

/// <summary>Runs <see cref="PurgeIdempotencyKeys"/> and schedules the next run.</summary>
public static partial class PurgeIdempotencyKeysHandler
{
    /// <summary>A run that keeps failing (the database away for longer than the retries) is a dead letter, replayable by admins.</summary>
    public static void Configure(HandlerChain chain)
    {
        ArgumentNullException.ThrowIfNull(chain);
        chain.OnAnyException().RetryWithCooldown(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(15)).Then.MoveToErrorQueue();
    }

    public static async Task HandleAsync(
        PurgeIdempotencyKeys run, IdempotencyKeys keys, IWolverineRuntime runtime, TimeProvider time, ILogger<PurgeIdempotencyKeys> logger,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(run);
        var purged = await keys.PurgeAsync(cancellationToken);
        if (purged > 0) LogPurged(logger, purged, IdempotencyKeys.Retention);
        await ScheduleNextAsync(runtime, time, logger, cancellationToken);
    }

    /// <summary>
    /// Schedules the run for the next full hour unless it is scheduled already. Straight into the inbox, not as a
    /// cascading message: a node that started during this run may have scheduled the same hour, and the duplicate must
    /// not fail this run.
    /// </summary>
    /// <remarks>
    /// Looked up first because Wolverine's durable local queue does not report a duplicate to the caller: it retries
    /// the insert three times (50, 100, 250 ms apart), logs each as a warning and the last as an error, and returns
    /// normally. Every node start but the hour's first paid that, about 0.4 s of start-up and an error in the log
    /// (issue 15, P7). Two nodes that start in the same instant can still both miss the row; one of them then logs
    /// Wolverine's error once, and the run is stored once all the same.
    /// </remarks>
    internal static async Task ScheduleNextAsync(IWolverineRuntime runtime, TimeProvider time, ILogger logger, CancellationToken cancellationToken)
    {
        var next = PurgeIdempotencyKeys.After(time.GetUtcNow());
        if (await runtime.Storage.Inbox.ExistsAsync(new Envelope { Id = next.MessageId }, cancellationToken))
        {
            LogAlreadyScheduled(logger, next.Due);
            return;
        }

        await new MessageBus(runtime).ScheduleAsync(next, next.Due);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Purged {Count} idempotency keys older than {Retention}")]
    private static partial void LogPurged(ILogger logger, int count, TimeSpan retention);

    [LoggerMessage(Level = LogLevel.Debug, Message = "The idempotency-key purge due {Due} is scheduled already")]
    private static partial void LogAlreadyScheduled(ILogger logger, DateTimeOffset due);
}

/// <summary>
/// Makes sure the next purge is scheduled when a node starts (the first node of a new ledger starts the chain; later
/// ones find it scheduled and store nothing).
/// </summary>
internal sealed class PurgeScheduler(IWolverineRuntime runtime, TimeProvider time, ILogger<PurgeScheduler> logger) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken) => PurgeIdempotencyKeysHandler.ScheduleNextAsync(runtime, time, logger, cancellationToken);

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
