using System.Globalization;

namespace Ledger.EventStore;

/// <summary>
/// A place in the global feed: the position of the last event read. The feed is ordered by position and shows only
/// positions up to Marten's high-water mark, below which no transaction can still add an event, so a reader that resumes
/// after a cursor never misses one.
/// </summary>
public readonly record struct FeedCursor(long Position) : IComparable<FeedCursor>
{
    /// <summary>Before the first event.</summary>
    public static FeedCursor Start { get; } = new(0);

    /// <inheritdoc />
    public int CompareTo(FeedCursor other) => Position.CompareTo(other.Position);

    /// <summary>Whether <paramref name="left"/> comes before <paramref name="right"/> in the feed.</summary>
    public static bool operator <(FeedCursor left, FeedCursor right) => left.CompareTo(right) < 0;

    /// <summary>Whether <paramref name="left"/> comes after <paramref name="right"/> in the feed.</summary>
    public static bool operator >(FeedCursor left, FeedCursor right) => left.CompareTo(right) > 0;

    /// <summary>Whether <paramref name="left"/> is at or before <paramref name="right"/>.</summary>
    public static bool operator <=(FeedCursor left, FeedCursor right) => left.CompareTo(right) <= 0;

    /// <summary>Whether <paramref name="left"/> is at or after <paramref name="right"/>.</summary>
    public static bool operator >=(FeedCursor left, FeedCursor right) => left.CompareTo(right) >= 0;

    /// <summary>The position in invariant digits.</summary>
    public override string ToString() => Position.ToString(CultureInfo.InvariantCulture);

    /// <summary>
    /// Parses the form written by <see cref="ToString"/>. The previous release's <c>transactionId.position</c> form does
    /// not parse: its order was another one.
    /// </summary>
    public static bool TryParse(string? text, out FeedCursor cursor)
    {
        cursor = Start;
        if (!long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var position)) return false;
        cursor = new FeedCursor(position);
        return true;
    }
}

/// <summary>A page of the global feed.</summary>
/// <param name="Events">The events, in feed order.</param>
/// <param name="Next">Where the next page starts (the last event's cursor, or the requested cursor if the page is empty).</param>
public sealed record FeedPage(IReadOnlyList<RecordedEvent> Events, FeedCursor Next);
