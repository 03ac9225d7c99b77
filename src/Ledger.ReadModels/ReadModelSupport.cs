using System.Collections.Concurrent;
using System.Collections.Frozen;
using Ledger.EventStore;
using Ledger.EventStore.Projections;
using Ledger.EventStore.Schema;
using Ledger.Production.Factories;
using Ledger.Production.Units;

namespace Ledger.ReadModels;

/// <summary>Calendar periods a read model can be queried by.</summary>
public enum CalendarBucket
{
    /// <summary>One day.</summary>
    Day = 1,

    /// <summary>An ISO 8601 week, Monday to Sunday.</summary>
    IsoWeek = 2,

    /// <summary>A calendar month.</summary>
    Month = 3,

    /// <summary>A calendar quarter (January, April, July, October).</summary>
    Quarter = 4,

    /// <summary>A calendar year.</summary>
    Year = 5,
}

internal static class CalendarBuckets
{
    // PostgreSQL's date_trunc field names; its 'week' is the ISO week (starting Monday).
    public static string ToDateTruncField(this CalendarBucket bucket) => bucket switch
    {
        CalendarBucket.Day => "day",
        CalendarBucket.IsoWeek => "week",
        CalendarBucket.Month => "month",
        CalendarBucket.Quarter => "quarter",
        CalendarBucket.Year => "year",
        _ => throw new ArgumentOutOfRangeException(nameof(bucket), bucket, "Not a calendar bucket."),
    };
}

/// <summary>The read models' SQL files (Sql/Queries), embedded in this assembly.</summary>
internal static class ReadModelSql
{
    public static string Read(string fileName) => SqlResources.Read(typeof(ReadModelSql).Assembly, fileName);
}

/// <summary>Unit events read from the feed.</summary>
internal static class UnitFeed
{
    /// <summary>
    /// The events of the batch that are unit events, deserialized. Other stored types are not the read models' business:
    /// the store is general, and a stream that is not a unit must not stop the projections.
    /// </summary>
    /// <remarks>
    /// Every unit event handed is folded: which types a read model is handed is its <see cref="IProjection.EventTypes"/>,
    /// applied by whoever hands it events (Marten's daemon, a rebuild), not a second list here. So a fold that reacts to
    /// a type missing from that list reacts to it only where it is handed everything, and <c>DeclaredEventTypesTests</c>
    /// shows that as a difference in the tables.
    /// </remarks>
    public static IReadOnlyList<(RecordedEvent Recorded, IUnitEvent Event)> Read(IReadOnlyList<RecordedEvent> events)
    {
        var result = new List<(RecordedEvent, IUnitEvent)>(events.Count);
        foreach (var recorded in events)
        {
            if (UnitEvents.TryFindByStoredName(recorded.Type, out var type)) result.Add((recorded, type.Deserialize(recorded.Data)));
        }

        return result;
    }

    /// <summary>A read model's event types, by stored name.</summary>
    public static FrozenSet<string> Types(params UnitEventType[] types) => types.Select(t => t.StoredName).ToFrozenSet(StringComparer.Ordinal);

    public static InvalidOperationException NotBuilt(RecordedEvent recorded) =>
        new($"Event {recorded.EventId} ({recorded.Type}) of unit {recorded.StreamId} at position {recorded.Position} " +
            "comes before any UnitBuilt of that unit in the feed; the projection cannot place it.");
}

/// <summary>
/// Local dates in each factory's own calendar. A factory's time zone is reference data that does not change once it
/// produces (a change would re-date history, which needs a rebuild), so zones are cached.
/// </summary>
internal sealed class FactoryCalendar(IFactoryRegistry factories)
{
    private readonly ConcurrentDictionary<string, TimeZoneInfo> _zones = new(StringComparer.Ordinal);

    public DateOnly LocalDate(string factoryId, DateTimeOffset instant) =>
        DateOnly.FromDateTime(TimeZoneInfo.ConvertTime(instant, _zones.GetOrAdd(factoryId, Find)).DateTime);

    private TimeZoneInfo Find(string factoryId)
    {
        // Throwing stops the projection visibly; guessing UTC would silently put Shanghai's evening builds on the wrong day.
        if (!factories.TryFind(factoryId, out var factory))
            throw new InvalidOperationException($"Factory '{factoryId}' is not in the registry; its local calendar is unknown.");
        if (!TimeZoneInfo.TryFindSystemTimeZoneById(factory.TimeZoneId, out var zone))
            throw new InvalidOperationException(
                $"Time zone '{factory.TimeZoneId}' of factory '{factoryId}' is not known on this host (install tzdata).");
        return zone;
    }
}

internal static class Utc
{
    public static DateOnly Date(DateTimeOffset instant) => DateOnly.FromDateTime(instant.UtcDateTime);

    // Npgsql writes only UTC DateTimeOffsets to timestamptz.
    public static DateTimeOffset Normalize(DateTimeOffset instant) => instant.ToUniversalTime();
}

/// <summary>
/// The bulk replay of a read model that keeps one row per unit (deployments, factory throughput): each unit's stream is
/// folded by the live code, its changed rows collected and written a chunk at a time, and the last write also writes what
/// the whole replay accumulated (daily totals and the like).
/// </summary>
internal static class UnitRowsReplay
{
    public static async Task RunAsync<TRow>(
        BulkReplay replay, int chunkRows, Func<IReadOnlyList<RecordedEvent>, IEnumerable<TRow>> foldStream,
        Func<ProjectionBatch, List<TRow>, CancellationToken, Task> writeRows, Func<ProjectionBatch, CancellationToken, Task> writeLast,
        Func<CancellationToken, Task>? afterWrite, CancellationToken cancellationToken)
    {
        var rows = new List<TRow>(chunkRows);
        await foreach (var stream in replay.ReadStreamsAsync(cancellationToken))
        {
            rows.AddRange(foldStream(stream));
            if (rows.Count < chunkRows) continue;
            await replay.WriteAsync((batch, token) => writeRows(batch, rows, token), cancellationToken);
            rows.Clear();
            if (afterWrite is not null) await afterWrite(cancellationToken);
        }

        await replay.WriteAsync(async (batch, token) =>
        {
            await writeRows(batch, rows, token);
            await writeLast(batch, token);
        }, cancellationToken);
    }
}
