using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Ledger.EventStore;

/// <summary>
/// The names under which the store publishes its <see cref="System.Diagnostics.Metrics"/> instruments and its spans,
/// for hosts that export them. Instrument names follow the OpenTelemetry conventions (dotted, lower case, unit given
/// separately).
/// </summary>
public static class EventStoreInstrumentation
{
    /// <summary>The meter every instrument of the store belongs to.</summary>
    public const string MeterName = "Ledger.EventStore";

    /// <summary>The activity source of the store's spans: one <c>eventstore.group_commit</c> per append transaction.</summary>
    public const string ActivitySourceName = "Ledger.EventStore";

    internal static ActivitySource Source { get; } = new(ActivitySourceName);

    /// <summary>Bucket upper bounds of the append latency histogram, in seconds: half a millisecond to ten seconds.</summary>
    public static IReadOnlyList<double> LatencyBuckets { get; } =
        [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

    /// <summary>Bucket upper bounds of the size histograms (events or requests).</summary>
    public static IReadOnlyList<int> SizeBuckets { get; } = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000];

    internal static Meter CreateMeter(IMeterFactory? factory) =>
        factory?.Create(MeterName) ?? new Meter(MeterName);
}

/// <summary>The append path's instruments. Recorded around the pipeline, so the pipeline itself stays free of them.</summary>
internal sealed class EventStoreMetrics : IDisposable
{
    private static readonly KeyValuePair<string, object?> Appended = new("outcome", "appended");
    private static readonly KeyValuePair<string, object?> Replayed = new("outcome", "replayed");
    private static readonly KeyValuePair<string, object?> Rejected = new("outcome", "rejected");
    private static readonly KeyValuePair<string, object?> Cancelled = new("outcome", "cancelled");
    private static readonly KeyValuePair<string, object?> Failed = new("outcome", "failed");

    private readonly Meter _meter;
    private readonly bool _ownsMeter;
    private readonly Counter<long> _requests;
    private readonly Counter<long> _events;
    private readonly Histogram<int> _requestEvents;
    private readonly Histogram<double> _duration;
    private readonly UpDownCounter<long> _inFlight;
    private readonly Histogram<int> _commitRequests;
    private readonly Histogram<int> _commitEvents;

    public EventStoreMetrics(IMeterFactory? factory, Func<int> queued)
    {
        _meter = EventStoreInstrumentation.CreateMeter(factory);
        _ownsMeter = factory is null;
        var sizes = new InstrumentAdvice<int> { HistogramBucketBoundaries = EventStoreInstrumentation.SizeBuckets };
        _requests = _meter.CreateCounter<long>("eventstore.append.requests", "{request}",
            "Append requests finished, by outcome: appended, replayed (every event stored already), rejected (expected version, event id conflict, invalid data), cancelled or failed.");
        _events = _meter.CreateCounter<long>("eventstore.append.events", "{event}", "Events written by appends (replays write none).");
        _requestEvents = _meter.CreateHistogram("eventstore.append.request.size", "{event}", "Events per append request.", advice: sizes);
        _duration = _meter.CreateHistogram("eventstore.append.duration", "s",
            "Time from an append request's arrival to its outcome, waiting for its group commit included, by outcome.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = EventStoreInstrumentation.LatencyBuckets });
        _inFlight = _meter.CreateUpDownCounter<long>("eventstore.append.active_requests", "{request}", "Append requests waiting for or inside a group commit.");
        _commitRequests = _meter.CreateHistogram("eventstore.group_commit.requests", "{request}", "Append requests per committed group-commit transaction.", advice: sizes);
        _commitEvents = _meter.CreateHistogram("eventstore.group_commit.events", "{event}", "Events per committed group-commit transaction.", advice: sizes);
        _meter.CreateObservableUpDownCounter("eventstore.append.queue.length", queued, "{request}", "Append requests queued for a writer.");
    }

    /// <summary>Runs one append request and records its outcome, size and latency.</summary>
    public async Task<IReadOnlyList<AppendResult>> MeasureAsync(
        IReadOnlyList<StreamAppend> appends, Func<Task<IReadOnlyList<AppendResult>>> append)
    {
        var started = Stopwatch.GetTimestamp();
        _inFlight.Add(1);
        var outcome = Failed;
        try
        {
            var results = await append();
            var written = results.Where(r => !r.Replayed).Sum(r => r.Events.Count);
            outcome = written == 0 ? Replayed : Appended;
            if (written > 0) _events.Add(written);
            return results;
        }
        catch (Exception e) when (e is EventStoreException or ArgumentException)
        {
            outcome = Rejected;
            throw;
        }
        catch (OperationCanceledException)
        {
            outcome = Cancelled;
            throw;
        }
        finally
        {
            _inFlight.Add(-1);
            _requests.Add(1, outcome);
            _duration.Record(Stopwatch.GetElapsedTime(started).TotalSeconds, outcome);
            _requestEvents.Record(appends?.Sum(a => a.Events?.Count ?? 0) ?? 0);
        }
    }

    /// <summary>One group-commit transaction committed with this many requests and events.</summary>
    public void BatchCommitted(int requests, int events)
    {
        _commitRequests.Record(requests);
        _commitEvents.Record(events);
    }

    public void Dispose()
    {
        if (_ownsMeter) _meter.Dispose();
    }
}
