using System.Diagnostics.Metrics;

namespace Ledger.EventStore.Projections;

/// <summary>
/// Gauges of where each projection stands (meter <see cref="EventStoreInstrumentation.MeterName"/>, tag <c>projection</c>):
/// position, lag in events and seconds, failed or not, rebuild progress. They report the statuses last given to
/// <see cref="Record"/>; the host samples <see cref="ProjectionAdmin.GetStatusAsync(CancellationToken)"/> on a period of its choosing,
/// because a gauge's callback must not query the database.
/// </summary>
public sealed class ProjectionMetrics : IDisposable
{
    private readonly Meter _meter;
    private readonly bool _ownsMeter;
    private volatile IReadOnlyList<ProjectionStatus> _statuses = [];

    /// <summary>Creates the gauges on the host's meter factory (null: a meter of their own).</summary>
    public ProjectionMetrics(IMeterFactory? meterFactory = null)
    {
        _meter = EventStoreInstrumentation.CreateMeter(meterFactory);
        _ownsMeter = meterFactory is null;
        _meter.CreateObservableGauge("eventstore.projection.position", () => Each(s => s.Cursor.Position), "{position}",
            "The global position of the last event the projection's live tables hold.");
        _meter.CreateObservableGauge("eventstore.projection.lag.events", () => Each(s => s.LagEvents), "{event}",
            "Events stored after the projection's position.");
        _meter.CreateObservableGauge("eventstore.projection.lag", () => Each(s => s.Lag.TotalSeconds), "s",
            "Age of the oldest event the projection has not applied yet (0 when caught up).");
        _meter.CreateObservableGauge("eventstore.projection.failed", () => Each(s => s.State == ProjectionState.Failed ? 1 : 0), null,
            "1 while the projection is stopped at an event it failed on (until retried or skipped), else 0.");
        _meter.CreateObservableGauge("eventstore.projection.rebuild.replayed", () => Rebuilding(r => r.EventsDone), "{event}",
            "Events replayed so far by the projection's rebuild in progress.");
        _meter.CreateObservableGauge("eventstore.projection.rebuild.to_replay", () => Rebuilding(r => r.EventsTotal), "{event}",
            "Events the projection's rebuild in progress has to replay in all (counted at its start, grown with the feed since).");
    }

    /// <summary>When the statuses were last recorded (null: never, or cleared).</summary>
    public DateTimeOffset? RecordedAt { get; private set; }

    /// <summary>Makes the gauges report these statuses from now on.</summary>
    public void Record(IReadOnlyList<ProjectionStatus> statuses, DateTimeOffset at)
    {
        ArgumentNullException.ThrowIfNull(statuses);
        _statuses = statuses;
        RecordedAt = at;
    }

    /// <summary>Withdraws the gauges' values (they report nothing) when the statuses could not be read: no stale figures.</summary>
    public void Clear()
    {
        _statuses = [];
        RecordedAt = null;
    }

    private IEnumerable<Measurement<T>> Each<T>(Func<ProjectionStatus, T> value) where T : struct =>
        _statuses.Select(s => new Measurement<T>(value(s), new KeyValuePair<string, object?>("projection", s.Name)));

    private IEnumerable<Measurement<long>> Rebuilding(Func<RebuildProgress, long> value) =>
        _statuses.Where(s => s.Rebuild is not null)
            .Select(s => new Measurement<long>(value(s.Rebuild!), new KeyValuePair<string, object?>("projection", s.Name)));

    /// <summary>Disposes the meter if it is the gauges' own.</summary>
    public void Dispose()
    {
        if (_ownsMeter) _meter.Dispose();
    }
}
