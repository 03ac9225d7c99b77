using System.Globalization;
using Ledger.Reliability.Tests.Support;
using Npgsql;

namespace Ledger.Reliability.Tests;

/// <summary>
/// kill -9 of the service while line systems post: every recorded UnitShipped, UnitDelivered and UnitCommissioned still
/// reaches the local transport's journal after the restarts (the integration subscription resumes from its progression,
/// the durable local queue from its inbox), and nothing that was not recorded is announced. Redeliveries are allowed by
/// the at-least-once contract: counted and reported, not failed.
/// </summary>
public sealed class IntegrationEventsCrashTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    // Red until the journal's message types were registered by their wire names (IntegrationTransport): every
    // notification recovered from a killed node's inbox was marked handled without being journaled (fast mode once 15
    // missing, long mode 93-264). docs/integration-events.md, "Delivery guarantees".
    [Fact]
    public async Task Killing_the_service_under_ingest_loses_no_notification_of_a_recorded_event()
    {
        var summary = new RunSummary("integration-events-kill");
        await using var cluster = await ReliabilityCluster.StartAsync(Ct);
        await using var node = await LedgerService.StartAsync(cluster, "node-a", LedgerService.NewAdminKey(), summary.Test, cancellationToken: Ct);
        await Diagnostics.InstallAsync(cluster.Superuser);
        var ingest = new Ingest([node], await Keys.LineKeysAsync(cluster.Superuser), tag: "N1",
            ReliabilityMode.Writers, ReliabilityMode.UnitsPerWriter, seed: 8201);

        using var stop = new CancellationTokenSource();
        var running = ingest.RunAsync(stop.Token, Ct);
        var random = new Random(8201);
        DateTimeOffset? firstKill = null;
        for (var kill = 1; kill <= ReliabilityMode.ServiceKills; kill++)
        {
            var target = ingest.EventsAcknowledged + 300 + random.Next(300);
            await Eventually.HoldsAsync(() => Task.FromResult(ingest.EventsAcknowledged >= target || running.IsCompleted),
                $"{target} events are acknowledged before kill {kill}", TimeSpan.FromMinutes(3));
            Assert.False(running.IsCompleted, "the writers still had work when the kill came (raise UnitsPerWriter)");
            await Task.Delay(random.Next(150), Ct);

            firstKill ??= DateTimeOffset.UtcNow;
            await Diagnostics.MarkAsync(cluster.Superuser, $"kill {kill}");
            await node.KillAsync();
            await node.StartAsync(Ct);
        }

        var afterLast = ingest.EventsAcknowledged + 100;
        await Eventually.HoldsAsync(() => Task.FromResult(ingest.EventsAcknowledged >= afterLast || running.IsCompleted),
            "writers go on after the last restart", TimeSpan.FromMinutes(3));
        await stop.CancelAsync();
        await running;

        var drain = System.Diagnostics.Stopwatch.StartNew();
        while (await CountAsync(cluster.Superuser, Sql.Missing) > 0)
        {
            if (drain.Elapsed > TimeSpan.FromMinutes(5)) Assert.Fail("Not every recorded shipment, delivery and commissioning was journaled after 5 minutes: " + await StateAsync(cluster.Superuser)
                + "\n" + await Diagnostics.ExplainMissingAsync(cluster.Superuser, Sql.Ours));
            await Task.Delay(200, Ct);
        }

        var drained = drain.Elapsed;

        var announced = await CountAsync(cluster.Superuser, Sql.Announced);
        var phantoms = await CountAsync(cluster.Superuser, Sql.Phantoms);
        var redelivered = await CountAsync(cluster.Superuser, Sql.Redelivered);
        var extraDeliveries = await CountAsync(cluster.Superuser, Sql.ExtraDeliveries);
        var deadLetters = await CountAsync(cluster.Superuser, "select count(*) from ledger.wolverine_dead_letters");
        summary.Add("kills (SIGKILL under ingest)", ReliabilityMode.ServiceKills);
        ingest.Recorder.AddTo(summary);
        summary.Add("recorded shipments, deliveries, commissionings", announced);
        summary.Add("of them not journaled", await CountAsync(cluster.Superuser, Sql.Missing));
        summary.Add("journaled notifications of no recorded event", phantoms);
        summary.Add("notifications received more than once (allowed: at least once)", redelivered);
        summary.Add("extra receipts in all", extraDeliveries);
        summary.Add("dead letters", deadLetters);
        summary.Add("from the end of the ingest until all were journaled", RunSummary.FormatSeconds(drained));
        summary.Add("record-to-journal delay before the first kill, p50 / p99 / max", await DelayAsync(cluster.Superuser, firstKill!.Value));
        summary.Publish();

        Assert.True(announced > 0, "the ingest recorded shipments, deliveries and commissionings");
        Assert.Equal(0L, phantoms);
        Assert.Equal(0L, deadLetters);
    }

    private static class Sql
    {
        public const string Ours = "e.stream_id like '%-N1-%' and e.type in ('unit-shipped.v1', 'unit-delivered.v1', 'unit-commissioned.v1')";
        public const string Announced = $"select count(*) from ledger.events e where {Ours}";
        public const string Missing = $"select count(*) from ledger.events e where {Ours} and not exists (select 1 from ledger.integration_events j where j.message_id = e.event_id)";
        // By the event each notification names (eventId, in every type): a milestone's message id is a name-based UUID of
        // factory and milestone, not an event id, so matching message ids counted every journaled milestone as a phantom.
        public const string Phantoms = "select count(*) from ledger.integration_events j where not exists (select 1 from ledger.events e where e.event_id = (j.body ->> 'eventId')::uuid)";
        public const string Redelivered = "select count(*) from ledger.integration_events where deliveries > 1";
        public const string ExtraDeliveries = "select coalesce(sum(deliveries - 1), 0) from ledger.integration_events";
    }

    // Where the notifications stopped, for a failure's message.
    private static async Task<string> StateAsync(NpgsqlDataSource superuser)
    {
        await using var command = superuser.CreateCommand($$"""
            select concat_ws('; ',
              'missing ' || ({{Sql.Missing}}),
              (select 'missing positions ' || min(e.position) || '..' || max(e.position) from ledger.events e
               where {{Sql.Ours}} and not exists (select 1 from ledger.integration_events j where j.message_id = e.event_id)),
              (select 'missing inside ranges the high-water detection skipped ' || count(*) from ledger.events e
               where {{Sql.Ours}} and not exists (select 1 from ledger.integration_events j where j.message_id = e.event_id)
                 and exists (select 1 from ledger.mt_high_water_skips k where e.position > k.starting_sequence and e.position <= k.ending_sequence)),
              (select 'stored events of any type inside skipped ranges ' || count(*) from ledger.mt_events e
               join ledger.mt_high_water_skips k on e.seq_id > k.starting_sequence and e.seq_id <= k.ending_sequence),
              (select 'progression ' || string_agg(name || '=' || coalesce(last_seq_id, -1), ', ' order by name) from ledger.mt_event_progression),
              (select 'head ' || max(seq_id) from ledger.mt_events),
              (select 'incoming ' || string_agg(status || '/owner ' || owner_id || ': ' || n, ', ') from (select status, owner_id, count(*) n from ledger.wolverine_incoming_envelopes group by 1, 2) s),
              (select 'outgoing ' || count(*) from ledger.wolverine_outgoing_envelopes),
              (select 'nodes ' || string_agg(node_number::text, ',') from ledger.wolverine_nodes),
              (select 'dead letters ' || count(*) from ledger.wolverine_dead_letters))
            """);
        return (string)(await command.ExecuteScalarAsync(Ct))!;
    }

    private static async Task<long> CountAsync(NpgsqlDataSource superuser, string sql)
    {
        await using var command = superuser.CreateCommand(sql);
        return Convert.ToInt64(await command.ExecuteScalarAsync(Ct), CultureInfo.InvariantCulture);
    }

    // From the event's commit (recorded_at, the database clock) to its first receipt in the journal (the same clock): the
    // subscription's polling, the outbox, the local queue and the journal insert, under the writers' load.
    private static async Task<string> DelayAsync(NpgsqlDataSource superuser, DateTimeOffset before)
    {
        await using var command = superuser.CreateCommand("""
            select count(*),
                   percentile_cont(0.5) within group (order by extract(epoch from j.received_at - e.recorded_at)),
                   percentile_cont(0.99) within group (order by extract(epoch from j.received_at - e.recorded_at)),
                   max(extract(epoch from j.received_at - e.recorded_at))
            from ledger.integration_events j join ledger.events e on e.event_id = j.message_id
            where e.recorded_at < @before
            """);
        command.Parameters.AddWithValue("before", before);
        await using var reader = await command.ExecuteReaderAsync(Ct);
        await reader.ReadAsync(Ct);
        if (reader.GetInt64(0) == 0) return "no events before the first kill";
        return string.Create(CultureInfo.InvariantCulture,
            $"{reader.GetDouble(1):0.000} s / {reader.GetDouble(2):0.000} s / {reader.GetDecimal(3):0.000} s over {reader.GetInt64(0)} notifications");
    }
}
