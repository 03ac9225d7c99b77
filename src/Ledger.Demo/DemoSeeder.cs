using System.Diagnostics;
using System.Globalization;
using System.Runtime.ExceptionServices;
using Ledger.Client;
using Ledger.Production.Units;

namespace Ledger.Demo;

/// <summary>How far a seeding has got.</summary>
/// <param name="EventsPosted">Events recorded so far.</param>
/// <param name="EventsTotal">Events in the history.</param>
/// <param name="Requests">Posts made so far.</param>
public sealed record DemoSeedProgress(long EventsPosted, long EventsTotal, int Requests);

/// <summary>What a seeding did.</summary>
/// <param name="Events">Events recorded.</param>
/// <param name="Requests">Posts made.</param>
/// <param name="Position">The highest global position written: read models that reached it show the whole history.</param>
/// <param name="Elapsed">How long it took.</param>
public sealed record DemoSeedResult(long Events, int Requests, long Position, TimeSpan Elapsed);

/// <summary>
/// Posts a <see cref="DemoHistory"/> through the typed client as the factories' line systems would: each system with its
/// own line key, in bursts. Each factory's history is taken in windows of <see cref="WindowEvents"/> events in the order
/// they happened, and each of its systems posts its part of a window as batches of up to <see cref="BatchEvents"/>
/// events once the systems before it in a unit's life have posted theirs (the test stations post a window's tests after
/// the execution system posted its builds; logistics after the tests; field service after logistics). So every unit's
/// events arrive in order, while the systems work side by side like a pipeline, and the two factories independently.
/// </summary>
/// <param name="clientFor">The client to post a system's events with (a client carrying that system's line key).</param>
public sealed class DemoSeeder(Func<DemoActor, LedgerClient> clientFor)
{
    /// <summary>Events of one factory taken together, a burst of each of its systems. Default 4,000.</summary>
    public int WindowEvents { get; init; } = 4_000;

    /// <summary>Events per post, at most the ledger's 1,000. Default 1,000.</summary>
    public int BatchEvents { get; init; } = 1_000;

    /// <summary>Posts the history.</summary>
    /// <param name="history">The history, for an empty ledger (its units' first events are builds).</param>
    /// <param name="progress">Told after every post.</param>
    /// <param name="cancellationToken">Stops between posts (a post under way completes or is retried as one).</param>
    /// <returns>What was posted, and the position it reached.</returns>
    /// <exception cref="LedgerProblemException">The ledger refused a post: the history breaks a rule, or a key is wrong.</exception>
    public async Task<DemoSeedResult> SeedAsync(DemoHistory history, IProgress<DemoSeedProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(history);
        ArgumentOutOfRangeException.ThrowIfLessThan(BatchEvents, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(WindowEvents, 1);
        var clients = history.Actors.ToDictionary(a => a.Name, clientFor, StringComparer.Ordinal);
        var stopwatch = Stopwatch.StartNew();
        long posted = 0, position = 0;
        var requests = 0;
        var total = history.Events.Count;
        var gate = new Lock();
        // One failure stops every system: the others would otherwise post on past a hole in the history.
        using var failed = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        Exception? firstFailure = null;

        var factories = history.Events.GroupBy(e => e.FactoryId, StringComparer.Ordinal).Select(factory => SeedFactoryAsync(
            [.. history.Actors.Where(a => a.FactoryId == factory.Key).OrderBy(a => a.Order)],
            [.. factory.Chunk(WindowEvents).Select(window => window.ToLookup(e => e.Actor, StringComparer.Ordinal))]));
        try
        {
            await Task.WhenAll(factories);
        }
        catch when (firstFailure is not null)
        {
            // The others stopped because of it: report what went wrong, not that they were stopped.
            ExceptionDispatchInfo.Throw(firstFailure);
        }

        return new DemoSeedResult(posted, requests, position, stopwatch.Elapsed);

        Task SeedFactoryAsync(List<DemoActor> systems, List<ILookup<string, DemoEvent>> windows)
        {
            // done[s][k] completes when system s has posted its part of window k; system s + 1 waits for it.
            var done = systems.Select(_ => windows.Select(_ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).ToArray()).ToArray();
            return Task.WhenAll(systems.Select((system, s) => Task.Run(async () =>
            {
                var batches = 0;
                var k = 0;
                try
                {
                    for (; k < windows.Count; k++)
                    {
                        if (s > 0) await done[s - 1][k].Task;
                        foreach (var batch in windows[k][system.Name].Chunk(BatchEvents))
                        {
                            failed.Token.ThrowIfCancellationRequested();
                            var receipt = await clients[system.Name].RecordBatchAsync(
                                [.. batch.Select(e => new UnitEventToRecord(e.Serial, e.Data, e.OccurredAt, e.EventId))],
                                new RecordOptions { CorrelationId = CorrelationId(history, system, ++batches) },
                                failed.Token);
                            DemoSeedProgress now;
                            lock (gate)
                            {
                                posted += batch.Length;
                                requests++;
                                position = Math.Max(position, receipt.Position);
                                now = new DemoSeedProgress(posted, total, requests);
                            }

                            progress?.Report(now);
                        }

                        done[s][k].SetResult();
                    }
                }
                catch (Exception e)
                {
                    if (!failed.IsCancellationRequested) Interlocked.CompareExchange(ref firstFailure, e, null);
                    for (; k < windows.Count; k++) done[s][k].TrySetException(e);
                    await failed.CancelAsync();
                    throw;
                }
            }, CancellationToken.None)));
        }
    }

    /// <summary>
    /// The correlation id of a seeding's post: <c>demo-&lt;as-of&gt;-&lt;system&gt;-&lt;n&gt;</c>, with the history's
    /// <see cref="DemoHistoryOptions.Until"/> to the tick (<c>20261207T061028.1234567Z</c>). So every demo event in a
    /// ledger says which history it belongs to, and a seeding stopped half-way can be finished by generating that history
    /// again (<see cref="TryReadAsOf"/>, <see cref="DemoHistory.Without"/>).
    /// </summary>
    /// <param name="history">The history posted.</param>
    /// <param name="system">The line system posting.</param>
    /// <param name="post">The system's post, from 1.</param>
    /// <returns>Such as <c>demo-20261207T061028.1234567Z-lathrop-mes-00001</c>.</returns>
    public static string CorrelationId(DemoHistory history, DemoActor system, int post)
    {
        ArgumentNullException.ThrowIfNull(history);
        ArgumentNullException.ThrowIfNull(system);
        return string.Create(CultureInfo.InvariantCulture,
            $"{CorrelationPrefix}{history.Options.Until.UtcDateTime.ToString(AsOfFormat, CultureInfo.InvariantCulture)}-{system.Name}-{post:D5}");
    }

    /// <summary>The as-of of the history a seeding's post belongs to, read from its <see cref="CorrelationId"/>.</summary>
    /// <param name="correlationId">A stored event's correlation id.</param>
    /// <param name="asOf">The history's <see cref="DemoHistoryOptions.Until"/>, in UTC.</param>
    /// <returns>Whether the id is a seeding's.</returns>
    public static bool TryReadAsOf(string? correlationId, out DateTimeOffset asOf)
    {
        asOf = default;
        if (correlationId is null || !correlationId.StartsWith(CorrelationPrefix, StringComparison.Ordinal)) return false;
        var rest = correlationId.AsSpan(CorrelationPrefix.Length);
        if (rest.Length <= AsOfLength || rest[AsOfLength] != '-') return false;
        if (!DateTime.TryParseExact(rest[..AsOfLength], AsOfFormat, CultureInfo.InvariantCulture,
                DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out var utc)) return false;
        asOf = new DateTimeOffset(utc, TimeSpan.Zero);
        return true;
    }

    private const string CorrelationPrefix = "demo-";

    // The correlation id allows letters, digits and - _ . : / only (docs/api.md).
    private const string AsOfFormat = "yyyyMMdd'T'HHmmss'.'fffffff'Z'";

    private const int AsOfLength = 24;

    /// <summary>A one-line account of a history: units, events, and where the units are at its end.</summary>
    /// <param name="history">The history.</param>
    /// <returns>Such as "34,012 units and 171,904 events: 30,880 commissioned, 1,201 delivered, ...".</returns>
    public static string Describe(DemoHistory history)
    {
        ArgumentNullException.ThrowIfNull(history);
        var stages = history.Events.GroupBy(e => e.Serial)
            .Select(unit => UnitRules.Fold(unit.OrderBy(e => e.Version).Select(e => new OccurredEvent(e.Data, e.OccurredAt))).Stage)
            .ToList();
        string Count(params UnitStage[] of) => stages.Count(of.Contains).ToString("N0", CultureInfo.InvariantCulture);
        return $"{stages.Count.ToString("N0", CultureInfo.InvariantCulture)} units and {history.Events.Count.ToString("N0", CultureInfo.InvariantCulture)} events: " +
               $"{Count(UnitStage.Commissioned)} commissioned, {Count(UnitStage.Delivered)} delivered and awaiting commissioning, " +
               $"{Count(UnitStage.InTransit)} in transit, {Count(UnitStage.Built, UnitStage.Passed, UnitStage.Failed, UnitStage.Reworked)} at the factories, " +
               $"{Count(UnitStage.Scrapped)} scrapped";
    }
}
