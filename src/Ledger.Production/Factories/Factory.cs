namespace Ledger.Production.Factories;

/// <summary>Where a factory is in its life. Only <see cref="Producing"/> factories may record builds.</summary>
public enum FactoryStatus
{
    Planned = 1,
    UnderConstruction = 2,
    Producing = 3,
    Closed = 4,
}

/// <summary>A Megafactory, as reference data.</summary>
/// <param name="Id">Stable lower-case id used in <c>UnitBuilt.factoryId</c> (<c>lathrop</c>).</param>
/// <param name="Name">Display name.</param>
/// <param name="Location">Where it is, for people.</param>
/// <param name="Country">ISO 3166-1 alpha-2 code of the country it is in.</param>
/// <param name="TimeZoneId">IANA time zone; local dates (production start, daily throughput) are dates in this zone.</param>
/// <param name="Status">Where it is in its life.</param>
/// <param name="NameplateUnitsPerYear">Design capacity in units a year, when published.</param>
/// <param name="ConstructionStarted">Local date construction began, when known.</param>
/// <param name="ProductionStarted">
/// Local date production started. Builds that occurred before the start of this day in <paramref name="TimeZoneId"/> are
/// refused. Where only the year is public, this is 1 January of that year: the earliest date consistent with the record.
/// </param>
public sealed record Factory(
    string Id,
    string Name,
    string Location,
    string Country,
    string TimeZoneId,
    FactoryStatus Status,
    int? NameplateUnitsPerYear,
    DateOnly? ConstructionStarted,
    DateOnly? ProductionStarted)
{
    /// <summary>The instant production started: midnight at the start of <see cref="ProductionStarted"/>, local time.</summary>
    public DateTimeOffset? ProductionStartedAt => ProductionStarted is { } date ? StartOfLocalDay(date) : null;

    private DateTimeOffset StartOfLocalDay(DateOnly date)
    {
        var midnight = date.ToDateTime(TimeOnly.MinValue, DateTimeKind.Unspecified);
        if (TimeZoneInfo.TryFindSystemTimeZoneById(TimeZoneId, out var zone))
        {
            // Where a DST change skips midnight itself, local midnight does not exist; midnight at the offset in force
            // just before the change is the instant of the change, the first moment of that local date.
            var offset = zone.IsInvalidTime(midnight) ? zone.GetUtcOffset(midnight.AddHours(-1)) : zone.GetUtcOffset(midnight);
            return new DateTimeOffset(midnight, offset);
        }

        // A host without time zone data (some slim container images) must still be able to decide. The earliest moment
        // the date exists anywhere (UTC+14) never refuses a build that happened on or after it.
        return new DateTimeOffset(midnight, TimeSpan.FromHours(14));
    }
}
