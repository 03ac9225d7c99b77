using JasperFx.Events;
using Ledger.EventStore;
using Ledger.EventStore.Projections;
using Ledger.Production.Units;
using Marten;

namespace Ledger.ReadModels;

/// <summary>A unit's stream read back into the domain's terms, now or at a point of its history (time travel).</summary>
public static class UnitHistory
{
    private static readonly (string Sql, string[] Names) Cut = PositionalSql.From(ReadModelSql.Read("unit_history_cut.sql"));

    /// <summary>The unit's state after its stored events.</summary>
    public static UnitState Fold(IEnumerable<RecordedEvent> events) =>
        events.Aggregate(UnitState.Initial, (state, e) => UnitRules.Evolve(state, ToOccurred(e)));

    /// <summary>The unit's state after its stored events, as a writer reads them to decide.</summary>
    public static UnitState Fold(IEnumerable<StreamEvent> events) =>
        events.Aggregate(UnitState.Initial, (state, e) => UnitRules.Evolve(state, ToOccurred(e.StreamId, e.Type, e.Data, e.OccurredAt)));

    /// <summary>A stored event as the domain's event and the time it occurred.</summary>
    public static OccurredEvent ToOccurred(RecordedEvent e)
    {
        ArgumentNullException.ThrowIfNull(e);
        return ToOccurred(e.StreamId, e.Type, e.Data, e.OccurredAt);
    }

    private static OccurredEvent ToOccurred(string streamId, string storedType, string data, DateTimeOffset occurredAt) =>
        UnitEvents.TryFindByStoredName(storedType, out var type)
            ? new OccurredEvent(type.Deserialize(data), occurredAt)
            : throw new InvalidOperationException(
                $"Stream {streamId} holds an event of stored type '{storedType}' that this version of the ledger does not know.");

    /// <summary>
    /// The unit as it was after its event <paramref name="toVersion"/> (the last one when the stream is shorter), or after
    /// its events that occurred by <paramref name="asOf"/> (up to the first that occurred later); null when it had no
    /// history by then. Marten aggregates the stream live (<see cref="UnitTimeline"/>); the store's
    /// <see cref="EventStoreOptions.EventTypes"/> must name the unit events, so Marten can read them.
    /// </summary>
    /// <remarks>
    /// Marten's own cuts do not answer the documented question, so the version to aggregate to is found first: its
    /// <c>timestamp</c> cut is on recorded-at (history imported or sent late occurred long before it was recorded), and
    /// a version past the end of the stream aggregates to nothing, where the API answers the unit as it is
    /// (docs/projections.md, "Time travel"; <c>TimeTravelTests</c> checks both against Marten).
    /// </remarks>
    public static async Task<UnitStatus?> StatusAtAsync(
        IDocumentStore marten, string serial, long? toVersion, DateTimeOffset? asOf, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(marten);
        ArgumentException.ThrowIfNullOrEmpty(serial);
        await using var session = marten.QuerySession();
        var values = new Dictionary<string, object>(StringComparer.Ordinal)
        {
            ["stream_id"] = serial,
            ["to_version"] = toVersion ?? long.MaxValue,
            ["as_of"] = (asOf ?? DateTimeOffset.MaxValue).ToUniversalTime(),
        };
        var cut = (await session.AdvancedSql.QueryAsync<long>(Cut.Sql, cancellationToken, [.. Cut.Names.Select(n => values[n])])).Single();
        if (cut == 0) return null;
        var timeline = await session.Events.AggregateStreamAsync<UnitTimeline>(serial, cut, token: cancellationToken);
        return timeline is null ? null : UnitStatus.From(serial, timeline.State, timeline.Position);
    }
}

/// <summary>
/// A unit's stream aggregated live by Marten (a self-aggregating type: Marten finds <c>Create</c> and <c>Apply</c> by
/// convention), folded by the same rules as every other read of a unit (<see cref="UnitRules.Evolve"/>).
/// </summary>
public sealed class UnitTimeline
{
    private UnitTimeline(UnitState state, long position)
    {
        State = state;
        Position = position;
    }

    /// <summary>The unit's state after the events aggregated.</summary>
    public UnitState State { get; }

    /// <summary>The feed position of the last event aggregated.</summary>
    public long Position { get; }

    /// <summary>The stream's first event.</summary>
    public static UnitTimeline Create(IEvent<UnitBuilt> e) => new UnitTimeline(UnitState.Initial, 0).Next(e);

    /// <summary>Applies a test.</summary>
    public UnitTimeline Apply(IEvent<UnitTested> e) => Next(e);

    /// <summary>Applies a rework.</summary>
    public UnitTimeline Apply(IEvent<UnitReworked> e) => Next(e);

    /// <summary>Applies a shipment.</summary>
    public UnitTimeline Apply(IEvent<UnitShipped> e) => Next(e);

    /// <summary>Applies a cancelled shipment.</summary>
    public UnitTimeline Apply(IEvent<ShipmentCancelled> e) => Next(e);

    /// <summary>Applies a delivery.</summary>
    public UnitTimeline Apply(IEvent<UnitDelivered> e) => Next(e);

    /// <summary>Applies commissioning.</summary>
    public UnitTimeline Apply(IEvent<UnitCommissioned> e) => Next(e);

    /// <summary>Applies scrapping.</summary>
    public UnitTimeline Apply(IEvent<UnitScrapped> e) => Next(e);

    private UnitTimeline Next(IEvent e) =>
        new(UnitRules.Evolve(State, new OccurredEvent((IUnitEvent)e.Data, OccurredAt(e))), e.Sequence);

    // The store writes occurredAt as an ISO 8601 UTC string header (EventHasher.FormatTimestamp); Marten 9.62.0 hands it
    // back read as a DateTime of kind Utc (tested). Anything else is a store this code does not know: fail, never guess.
    private static DateTimeOffset OccurredAt(IEvent e) => e.GetHeader("occurredAt") switch
    {
        DateTime { Kind: DateTimeKind.Utc } utc => new DateTimeOffset(utc),
        string text => DateTimeOffset.Parse(text, System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.AssumeUniversal),
        var other => throw new InvalidOperationException(
            $"Event {e.Id} of stream {e.StreamKey} carries occurredAt as {other?.GetType().Name ?? "nothing"}, not a UTC moment."),
    };
}
