using Ledger.EventStore.Tests.Projections;
using Ledger.EventStore.Tests.Support;
using Ledger.Testing;
using Eventually = Ledger.Testing.Eventually;

namespace Ledger.EventStore.Tests;

/// <summary>
/// Marten's high-water gap query, which every node runs at every wake-up, reads the rows above the mark from the primary
/// key instead of sorting a scan of the whole events table: the store has the table analyzed as soon as it holds events
/// (issue 15; without statistics that query cost 30-37 ms a call at 100,000 events, 0.2 ms with them).
/// </summary>
public sealed class EventStatisticsTests(DatabaseFixture database) : IClassFixture<DatabaseFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>Marten 9.62.0's GapDetector query, as it sends it (the mark as a constant, so EXPLAIN plans it as sent).</summary>
    private const string GapQuery = """
        select
          (select min(seq_id) from ledger.mt_events where seq_id > @start) as first_after,
          (select seq_id
           from (select seq_id, lead(seq_id) over (order by seq_id) as next_seq
                 from ledger.mt_events where seq_id >= @start) gaps
           where next_seq is not null and next_seq - seq_id > 1
           order by seq_id
           limit 1) as gap_edge,
          (select max(seq_id) from ledger.mt_events where seq_id >= @start) as max_seq
        """;

    [Fact]
    public async Task Once_the_events_table_holds_events_the_gap_query_reads_only_the_rows_above_the_mark()
    {
        await using var db = await database.CreateDatabaseAsync(Ct);
        await using var node = await Node.StartAsync(db.ConnectionString);
        // Autovacuum would analyze the table too, up to a minute later: off for this table, only the store can.
        await Db.ScalarAsync<object?>(node.DataSource, "alter table ledger.mt_events set (autovacuum_enabled = false)");

        for (var i = 0; i < 60; i++)
        {
            await node.Store.AppendToStreamAsync(Events.NewStream(), ExpectedVersion.NoStream, Events.Many(20), Ct);
        }

        await Eventually.HoldsAsync(() => Db.ScalarAsync<bool>(node.DataSource, """
            select exists (select 1 from pg_stats
                           where schemaname = 'ledger' and tablename = 'mt_events' and attname = 'seq_id' and histogram_bounds is not null)
            """), "the events table has a histogram on seq_id");

        var head = await node.Store.GetHeadPositionAsync(Ct);
        await using var explain = node.DataSource.CreateCommand("explain " + GapQuery.Replace("@start", (head - 10).ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal));
        var plan = new List<string>();
        await using (var reader = await explain.ExecuteReaderAsync(Ct))
        {
            while (await reader.ReadAsync(Ct)) plan.Add(reader.GetString(0));
        }

        Assert.True(!plan.Any(line => line.Contains("Seq Scan", StringComparison.Ordinal)), string.Join(Environment.NewLine, plan));
    }
}
