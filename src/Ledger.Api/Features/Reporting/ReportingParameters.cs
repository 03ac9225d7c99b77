using System.Globalization;
using Ledger.ReadModels;

namespace Ledger.Api.Features.Reporting;

/// <summary>Query parameters shared by the reporting endpoints, each refused with a 400 naming it.</summary>
internal static class ReportingParameters
{
    public static CalendarBucket? Bucket(string? text, string name, IReadOnlyList<string> allowed, Dictionary<string, string[]> errors, CalendarBucket fallback)
    {
        if (text is null) return fallback;
        CalendarBucket? bucket = text switch
        {
            "day" => CalendarBucket.Day,
            "week" => CalendarBucket.IsoWeek,
            "month" => CalendarBucket.Month,
            "quarter" => CalendarBucket.Quarter,
            "year" => CalendarBucket.Year,
            _ => null,
        };
        if (bucket is not null && allowed.Contains(text)) return bucket;
        errors[name] = [$"Must be one of {string.Join(", ", allowed)}."];
        return null;
    }

    /// <summary>
    /// The dates a report may ask about. Npgsql sends <see cref="DateOnly.MinValue"/> and <see cref="DateOnly.MaxValue"/>
    /// as -infinity and infinity, and a calendar series to infinity never ends: <c>from=9999-12-31&amp;to=9999-12-31</c> held a
    /// connection for the 30-second command timeout and then answered 503 (found while probing the calendar's ends for the
    /// reliability suite's fuzzer, which now sends such ranges).
    /// </summary>
    public static readonly DateOnly Earliest = new(1900, 1, 1);

    /// <inheritdoc cref="Earliest"/>
    public static readonly DateOnly Latest = new(2999, 12, 31);

    public static DateOnly? Date(string? text, string name, Dictionary<string, string[]> errors, DateOnly fallback)
    {
        if (text is null) return fallback;
        if (DateOnly.TryParseExact(text, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var date)
            && date >= Earliest && date <= Latest)
        {
            return date;
        }

        errors[name] = [$"Must be a date, yyyy-MM-dd, from {Earliest:yyyy-MM-dd} to {Latest:yyyy-MM-dd}."];
        return null;
    }

    public static void Range(DateOnly? from, DateOnly? to, Dictionary<string, string[]> errors)
    {
        if (from is { } f && to is { } t && f > t) errors["from"] = ["Must not be after to."];
        else if (from is { } a && to is { } b && b.DayNumber - a.DayNumber > 366 * 20) errors["to"] = ["A range is at most 20 years."];
    }
}
