using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.Json.Nodes;
using Ledger.Api.Access;
using Ledger.Api.Tests.Support;
using Ledger.Api.Tests.WritePath;
using Ledger.Testing;
using Npgsql;

namespace Ledger.Api.Tests.Integration;

/// <summary>
/// What publishing costs, printed, never asserted on time (a shared 2-core machine): the same ingest of shipments on a
/// node without the projection daemon (no read models, no integration subscription) and on one with it, then how fast
/// the notifications are journaled and how long after the commit. Asserted: every shipment journaled once.
/// </summary>
public sealed class NotificationFiguresTests(DatabaseFixture database) : IClassFixture<DatabaseFixture>
{
    private const int Units = 1_000;
    private const int UnitsPerBatch = 333;
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Notification_throughput_and_delay_are_measured_against_the_ingest()
    {
        await using var bare = await database.CreateDatabaseAsync(Ct);
        var withoutDaemon = await IngestAsync(bare.ConnectionString, daemon: false);
        var withDaemon = await IngestAsync(database.ConnectionString, daemon: true);

        TestContext.Current.TestOutputHelper?.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"ingest of {Units * 3} events ({Units} shipments, batches of {UnitsPerBatch * 3}): {withoutDaemon.EventsPerSecond:0} events/s without the daemon, " +
            $"{withDaemon.EventsPerSecond:0} with the read models and the integration subscription (ratio {withDaemon.EventsPerSecond / withoutDaemon.EventsPerSecond:0.00}); " +
            $"{withDaemon.Figures}"));
    }

    private async Task<(double EventsPerSecond, string Figures)> IngestAsync(string connectionString, bool daemon)
    {
        await using var api = new LedgerApiFactory(connectionString, settings: new Dictionary<string, string?>
        {
            ["Ledger:Projections:RunDaemon"] = daemon ? "true" : "false",
        });
        using var lathrop = api.CreateClient(await api.CreateKeyAsync(LedgerRole.Line, "lathrop"));
        var serials = Enumerable.Range(0, Units).Select(_ => LineEvents.NewSerial("F")).ToArray();
        // Warm the path (first request, schema checks) outside the measurement.
        using (var warm = await lathrop.SendAsync(LineEvents.Post($"/api/v1/units/{LineEvents.NewSerial("W")}/events", LineEvents.Built()), Ct))
        {
            Assert.Equal(HttpStatusCode.Created, warm.StatusCode);
        }

        var clock = Stopwatch.StartNew();
        foreach (var chunk in serials.Chunk(UnitsPerBatch))
        {
            var events = chunk.SelectMany(s => new[] { LineEvents.Built().WithSerial(s), LineEvents.Tested().WithSerial(s), LineEvents.Shipped("US").WithSerial(s) });
            using var response = await lathrop.SendAsync(LineEvents.Post("/api/v1/events", new JsonObject { ["events"] = new JsonArray([.. events]) }), Ct);
            Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        }

        var ingest = clock.Elapsed;
        if (!daemon) return (Units * 3 / ingest.TotalSeconds, "");

        await using var db = NpgsqlDataSource.Create(connectionString);
        await using var count = db.CreateCommand("select count(*), coalesce(max(deliveries), 0) from ledger.integration_events where type = 'ledger.unit-shipped.v1' and body->>'serial' = any(@s)");
        count.Parameters.AddWithValue("s", serials);
        long journaled;
        int maxDeliveries;
        while (true)
        {
            await using (var reader = await count.ExecuteReaderAsync(Ct))
            {
                await reader.ReadAsync(Ct);
                (journaled, maxDeliveries) = (reader.GetInt64(0), reader.GetInt32(1));
            }

            if (journaled == Units || clock.Elapsed > TimeSpan.FromMinutes(3)) break;
            await Task.Delay(50, Ct);
        }

        var drained = clock.Elapsed - ingest;
        Assert.Equal(Units, journaled);
        Assert.Equal(1, maxDeliveries);
        await using var figures = db.CreateCommand("""
            select extract(epoch from max(j.received_at) - min(j.received_at)),
                   percentile_cont(0.5) within group (order by extract(epoch from j.received_at - e.recorded_at)),
                   percentile_cont(0.99) within group (order by extract(epoch from j.received_at - e.recorded_at)),
                   max(extract(epoch from j.received_at - e.recorded_at))
            from ledger.integration_events j join ledger.events e on e.event_id = j.message_id
            where j.body->>'serial' = any(@s)
            """);
        figures.Parameters.AddWithValue("s", serials);
        string underLoad;
        await using (var row = await figures.ExecuteReaderAsync(Ct))
        {
            await row.ReadAsync(Ct);
            var span = (double)row.GetDecimal(0);
            underLoad = string.Create(CultureInfo.InvariantCulture,
                $"{Units} notifications journaled over {span:0.00} s ({Units / Math.Max(span, 0.001):0}/s), the last {drained.TotalSeconds:0.00} s after the ingest ended; " +
                $"commit-to-journal delay p50 {row.GetDouble(1):0.000} s, p99 {row.GetDouble(2):0.000} s, max {row.GetDecimal(3):0.000} s");
        }

        return (Units * 3 / ingest.TotalSeconds, underLoad + "; " + await IdleDelaysAsync(lathrop, db));
    }

    // One shipment at a time on an otherwise idle node: the delay a single notification sees.
    private static async Task<string> IdleDelaysAsync(HttpClient lathrop, NpgsqlDataSource db)
    {
        var delays = new List<double>();
        for (var i = 0; i < 20; i++)
        {
            var serial = LineEvents.NewSerial("I");
            using (var response = await lathrop.SendAsync(LineEvents.Post($"/api/v1/units/{serial}/events",
                       new JsonArray(LineEvents.Built(), LineEvents.Tested(), LineEvents.Shipped())), Ct))
            {
                Assert.Equal(HttpStatusCode.Created, response.StatusCode);
            }

            await using var delay = db.CreateCommand("""
                select extract(epoch from j.received_at - e.recorded_at)::float8
                from ledger.integration_events j join ledger.events e on e.event_id = j.message_id where e.stream_id = @s
                """);
            delay.Parameters.AddWithValue("s", serial);
            var clock = Stopwatch.StartNew();
            object? seconds;
            while ((seconds = await delay.ExecuteScalarAsync(Ct)) is not double && clock.Elapsed < TimeSpan.FromSeconds(30)) await Task.Delay(10, Ct);
            delays.Add(Assert.IsType<double>(seconds));
        }

        delays.Sort();
        return string.Create(CultureInfo.InvariantCulture,
            $"idle, one shipment at a time: commit-to-journal delay median {delays[delays.Count / 2]:0.000} s, max {delays[^1]:0.000} s over {delays.Count}");
    }
}
