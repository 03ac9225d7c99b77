using System.Globalization;

namespace Ledger.EventStore;

/// <summary>
/// A place in the global feed: the feed is ordered by (transaction id, position). Cursors compare in feed order.
/// </summary>
public readonly record struct FeedCursor(ulong TransactionId, long Position) : IComparable<FeedCursor>
{
    /// <summary>Before the first event.</summary>
    public static FeedCursor Start { get; } = new(0, 0);

    /// <inheritdoc />
    public int CompareTo(FeedCursor other)
    {
        var byTransaction = TransactionId.CompareTo(other.TransactionId);
        return byTransaction != 0 ? byTransaction : Position.CompareTo(other.Position);
    }

    /// <summary>Whether <paramref name="left"/> comes before <paramref name="right"/> in the feed.</summary>
    public static bool operator <(FeedCursor left, FeedCursor right) => left.CompareTo(right) < 0;

    /// <summary>Whether <paramref name="left"/> comes after <paramref name="right"/> in the feed.</summary>
    public static bool operator >(FeedCursor left, FeedCursor right) => left.CompareTo(right) > 0;

    /// <summary>Whether <paramref name="left"/> is at or before <paramref name="right"/>.</summary>
    public static bool operator <=(FeedCursor left, FeedCursor right) => left.CompareTo(right) <= 0;

    /// <summary>Whether <paramref name="left"/> is at or after <paramref name="right"/>.</summary>
    public static bool operator >=(FeedCursor left, FeedCursor right) => left.CompareTo(right) >= 0;

    /// <summary>A compact text form, <c>transactionId.position</c>.</summary>
    public override string ToString() =>
        string.Create(CultureInfo.InvariantCulture, $"{TransactionId}.{Position}");

    /// <summary>Parses the form written by <see cref="ToString"/>.</summary>
    public static bool TryParse(string? text, out FeedCursor cursor)
    {
        cursor = Start;
        var dot = text?.IndexOf('.', StringComparison.Ordinal) ?? -1;
        if (text is null || dot <= 0) return false;
        if (!ulong.TryParse(text.AsSpan(0, dot), NumberStyles.None, CultureInfo.InvariantCulture, out var transactionId)) return false;
        if (!long.TryParse(text.AsSpan(dot + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var position)) return false;
        cursor = new FeedCursor(transactionId, position);
        return true;
    }
}

/// <summary>A page of the global feed.</summary>
/// <param name="Events">The events, in feed order.</param>
/// <param name="Next">Where the next page starts (the last event's cursor, or the requested cursor if the page is empty).</param>
public sealed record FeedPage(IReadOnlyList<RecordedEvent> Events, FeedCursor Next);
