using System.Globalization;
using Ledger.EventStore.Projections;

namespace Ledger.Api.Features;

/// <summary>
/// Read-your-writes for asynchronous read models. A write answers with the global position of its events; a read may
/// pass it as <c>minPosition</c> and waits, at most <see cref="MaxWait"/>, for the read model to reach it. Either way the
/// answer says which position it reflects (<c>X-Ledger-Position</c>) and, when it is behind what was asked for,
/// <c>X-Ledger-Behind: true</c> with the lag in events: honest data rather than a hang or an error.
/// </summary>
internal sealed class Freshness(ProjectionAdmin projections)
{
    public static readonly TimeSpan MaxWait = TimeSpan.FromSeconds(5);
    public const string PositionHeader = "X-Ledger-Position";
    public const string BehindHeader = "X-Ledger-Behind";
    public const string LagHeader = "X-Ledger-Lag-Events";

    /// <summary>Parses <c>minPosition</c>; null when absent, an error message when invalid.</summary>
    public static (long? Position, string? Error) Parse(string? minPosition) =>
        minPosition is null ? (null, null)
        : long.TryParse(minPosition, NumberStyles.None, CultureInfo.InvariantCulture, out var p) && p > 0 ? (p, null)
        : (null, "Must be a global position from a write's response (a positive whole number).");

    /// <summary>Waits for <paramref name="minPosition"/> if given, then reads the status and says it in the headers.</summary>
    public async Task ApplyAsync(HttpContext context, string projection, long? minPosition, CancellationToken cancellationToken)
    {
        var reached = await WaitAsync(projection, minPosition, cancellationToken);
        Describe(context, await projections.GetStatusAsync(projection, cancellationToken), reached);
    }

    /// <summary>
    /// The read-your-writes wait alone, for a report that reads the status in one round trip with its rows
    /// (<see cref="ProjectionAdmin.AddStatusRead"/>, before them) and then calls <see cref="Describe"/>. True when the
    /// projection reached <paramref name="minPosition"/> in time, or none was asked for.
    /// </summary>
    public async Task<bool> WaitAsync(string projection, long? minPosition, CancellationToken cancellationToken)
    {
        if (minPosition is { } position && await projections.CursorOfPositionAsync(position, cancellationToken) is { } target)
        {
            return await projections.WaitForAsync(projection, target, MaxWait, cancellationToken);
        }

        return true;
    }

    /// <summary>Says in the response's headers which position the answer reflects and whether it is behind what was asked.</summary>
    public static void Describe(HttpContext context, ProjectionStatus? status, bool reached)
    {
        ArgumentNullException.ThrowIfNull(context);
        var headers = context.Response.Headers;
        headers[PositionHeader] = (status?.Cursor.Position ?? 0).ToString(CultureInfo.InvariantCulture);
        headers[LagHeader] = (status?.LagEvents ?? 0).ToString(CultureInfo.InvariantCulture);
        if (!reached) headers[BehindHeader] = "true";
    }
}
