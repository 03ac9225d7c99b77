using System.Diagnostics;
using Npgsql;

namespace Ledger.Benchmarks.Phases;

/// <summary>The journal when the single-event load ended: how many unit notifications it held, by the database's clock.</summary>
internal sealed record JournalMark(long Journaled, DateTimeOffset At);

/// <summary>
/// How the integration events' journal (the local transport, <c>ledger.integration_events</c>) kept up with the run: the
/// unit notifications it should hold (one per shipment, delivery and commissioning the service acknowledged), how many it
/// held when the single-event load ended, how long after that it held every one, and its rate in between.
/// </summary>
/// <param name="Expected">Shipments, deliveries and commissionings the service acknowledged in the whole run.</param>
/// <param name="AtLoadEnd">Unit notifications journaled when the single-event load ended.</param>
/// <param name="Journaled">Unit notifications journaled at the end of the wait (more than expected: messages nobody posted).</param>
/// <param name="SecondsAfterLoad">From the load's end to the last notification's receipt (database clock); the wait's limit
/// when not finished.</param>
/// <param name="PerSecond">Notifications journaled per second from the load's end to then.</param>
/// <param name="Redeliveries">Receipts beyond the first (at least once allows them).</param>
/// <param name="DelaySeconds">From each notification's event's commit to its receipt in the journal, over the whole run.</param>
/// <param name="Finished">False when the journal did not hold every notification within the limit.</param>
internal sealed record JournalResult(
    long Expected, long AtLoadEnd, long Journaled, double SecondsAfterLoad, double PerSecond, long Redeliveries, JournalDelays DelaySeconds,
    bool Finished)
{
    public long Backlog => Expected - AtLoadEnd;
}

/// <summary>Commit-to-journal delays in seconds (percentile_cont over every notification of the run).</summary>
internal sealed record JournalDelays(double P50, double P99, double Max);

/// <summary>
/// Reads the journal's table directly, as the lag sampler reads the progression (the admin endpoint pages it 1,000 at a
/// time, which would cost the service more than the counting does the database).
/// </summary>
internal static class JournalCatchUp
{
    /// <summary>The run's phase (its CPU seconds) that waits for the journal.</summary>
    public const string PhaseName = "journal catches up";

    /// <summary>
    /// The smallest backlog at the load's end over which the catch-up's rate and CPU per notification are reported: a
    /// smaller one is a subscription batch or two in flight, and the wait for it lasts a fraction of a second.
    /// </summary>
    public const int MeasurableBacklog = 1_000;

    /// <summary>The message types of the unit notifications (docs/integration-events.md); milestones are not counted.</summary>
    private static readonly string[] UnitNotificationTypes = ["ledger.unit-shipped.v1", "ledger.unit-delivered.v1", "ledger.unit-commissioned.v1"];

    /// <summary>The acknowledged events each of which the service announces as one unit notification.</summary>
    public static readonly string[] AnnouncedEventTypes = ["UnitShipped", "UnitDelivered", "UnitCommissioned"];

    public static async Task<JournalMark> MarkAsync(string connectionString, CancellationToken cancellationToken)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(cancellationToken);
        await using var command = new NpgsqlCommand(
            "select count(*), clock_timestamp() from ledger.integration_events where type = any(@types)", connection);
        command.Parameters.AddWithValue("types", UnitNotificationTypes);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        return new JournalMark(reader.GetInt64(0), reader.GetFieldValue<DateTimeOffset>(1));
    }

    /// <summary>
    /// Waits until the journal holds <paramref name="expected"/> unit notifications or <paramref name="timeout"/> passes;
    /// the time is the database's, from <paramref name="loadEnd"/> to the last receipt.
    /// </summary>
    /// <remarks>
    /// Every 500 ms it reads the journal's highest <c>seq</c>, one index probe: an identity never gives fewer values than
    /// rows, so until it reaches <paramref name="expected"/> the journal cannot hold them all. Only then is the count by
    /// type taken, a scan of the whole journal (half a million rows in full mode) that polling with would compete with the
    /// journal it is timing.
    /// </remarks>
    public static async Task<JournalResult> WaitAsync(
        string connectionString, long expected, JournalMark loadEnd, TimeSpan timeout, CancellationToken cancellationToken)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(cancellationToken);
        await using var count = new NpgsqlCommand(
            "select count(*), coalesce(sum(deliveries - 1), 0)::bigint from ledger.integration_events where type = any(@types)", connection);
        count.Parameters.AddWithValue("types", UnitNotificationTypes);
        await using var highest = new NpgsqlCommand("select coalesce(max(seq), 0) from ledger.integration_events", connection);
        var waited = Stopwatch.StartNew();
        long journaled, redeliveries;
        while (true)
        {
            if ((long)(await highest.ExecuteScalarAsync(cancellationToken))! < expected && waited.Elapsed <= timeout)
            {
                await Task.Delay(500, cancellationToken);
                continue;
            }

            await using (var reader = await count.ExecuteReaderAsync(cancellationToken))
            {
                await reader.ReadAsync(cancellationToken);
                (journaled, redeliveries) = (reader.GetInt64(0), reader.GetInt64(1));
            }

            if (journaled >= expected || waited.Elapsed > timeout) break;
            await Task.Delay(500, cancellationToken);
        }

        var finished = journaled >= expected;
        double seconds;
        if (finished)
        {
            await using var last = new NpgsqlCommand(
                "select extract(epoch from max(received_at) - @loadEnd)::float8 from ledger.integration_events where type = any(@types)", connection);
            last.Parameters.AddWithValue("types", UnitNotificationTypes);
            last.Parameters.AddWithValue("loadEnd", loadEnd.At);
            // Zero when the journal was complete before the load ended (nothing to catch up).
            seconds = Math.Max(0, (double)(await last.ExecuteScalarAsync(cancellationToken))!);
        }
        else
        {
            await using var now = new NpgsqlCommand("select extract(epoch from clock_timestamp() - @loadEnd)::float8", connection);
            now.Parameters.AddWithValue("loadEnd", loadEnd.At);
            seconds = (double)(await now.ExecuteScalarAsync(cancellationToken))!;
        }

        // Each unit notification's message id is its event's id: the delay is from that event's commit (mt_events'
        // timestamp, the view's recorded_at) to the journal's first receipt, both by the database's clock.
        await using var delays = new NpgsqlCommand("""
            select coalesce(percentile_cont(0.5) within group (order by d), 'NaN'), coalesce(percentile_cont(0.99) within group (order by d), 'NaN'),
                   coalesce(max(d), 'NaN')
            from (select extract(epoch from j.received_at - e.recorded_at)::float8 as d
                  from ledger.integration_events j join ledger.events e on e.event_id = j.message_id
                  where j.type = any(@types)) delays
            """, connection);
        delays.Parameters.AddWithValue("types", UnitNotificationTypes);
        JournalDelays delay;
        await using (var reader = await delays.ExecuteReaderAsync(cancellationToken))
        {
            await reader.ReadAsync(cancellationToken);
            delay = new JournalDelays(reader.GetDouble(0), reader.GetDouble(1), reader.GetDouble(2));
        }

        var caughtUp = journaled - loadEnd.Journaled;
        return new JournalResult(expected, loadEnd.Journaled, journaled, seconds, seconds > 0 ? caughtUp / seconds : double.NaN, redeliveries,
            delay, finished);
    }
}
