-- One statement for every unit touched by a batch: each row is the fold of the unit's whole stream, so the upsert is
-- idempotent and order-independent. The row's position is its last event's, looked up by id: inline, this runs after the
-- append's insert in the same transaction, and the projection was handed the events before their positions were drawn.
insert into {ledger.unit_status} as u
    (serial, factory_id, line, model, nameplate_kwh, state, latest_test_result, latest_test_station, latest_measured_kwh,
     latest_round_trip_efficiency, latest_failure_code, shipment_id, carrier, destination_country, destination_region,
     destination_site, site, built_at, tested_at, reworked_at, shipped_at, delivered_at, commissioned_at, scrapped_at,
     last_occurred_at, version, position)
select r.serial, r.factory_id, r.line, r.model, r.nameplate_kwh, r.state, r.latest_test_result, r.latest_test_station,
       r.latest_measured_kwh, r.latest_round_trip_efficiency, r.latest_failure_code, r.shipment_id, r.carrier,
       r.destination_country, r.destination_region, r.destination_site, r.site, r.built_at, r.tested_at, r.reworked_at,
       r.shipped_at, r.delivered_at, r.commissioned_at, r.scrapped_at, r.last_occurred_at, r.version,
       (select e.seq_id from ledger.mt_events e where e.id = r.last_event_id)
from unnest(
    @serial::text[], @factory_id::text[], @line::text[], @model::text[], @nameplate_kwh::numeric[], @state::text[],
    @latest_test_result::text[], @latest_test_station::text[], @latest_measured_kwh::numeric[],
    @latest_round_trip_efficiency::numeric[], @latest_failure_code::text[], @shipment_id::text[], @carrier::text[],
    @destination_country::text[], @destination_region::text[], @destination_site::text[], @site::text[],
    @built_at::timestamptz[], @tested_at::timestamptz[], @reworked_at::timestamptz[], @shipped_at::timestamptz[],
    @delivered_at::timestamptz[], @commissioned_at::timestamptz[], @scrapped_at::timestamptz[],
    @last_occurred_at::timestamptz[], @version::bigint[], @last_event_id::uuid[])
    as r(serial, factory_id, line, model, nameplate_kwh, state, latest_test_result, latest_test_station,
         latest_measured_kwh, latest_round_trip_efficiency, latest_failure_code, shipment_id, carrier, destination_country,
         destination_region, destination_site, site, built_at, tested_at, reworked_at, shipped_at, delivered_at,
         commissioned_at, scrapped_at, last_occurred_at, version, last_event_id)
on conflict (serial) do update set
    factory_id = excluded.factory_id, line = excluded.line, model = excluded.model, nameplate_kwh = excluded.nameplate_kwh,
    state = excluded.state, latest_test_result = excluded.latest_test_result,
    latest_test_station = excluded.latest_test_station, latest_measured_kwh = excluded.latest_measured_kwh,
    latest_round_trip_efficiency = excluded.latest_round_trip_efficiency,
    latest_failure_code = excluded.latest_failure_code, shipment_id = excluded.shipment_id, carrier = excluded.carrier,
    destination_country = excluded.destination_country, destination_region = excluded.destination_region,
    destination_site = excluded.destination_site, site = excluded.site, built_at = excluded.built_at,
    tested_at = excluded.tested_at, reworked_at = excluded.reworked_at, shipped_at = excluded.shipped_at,
    delivered_at = excluded.delivered_at, commissioned_at = excluded.commissioned_at, scrapped_at = excluded.scrapped_at,
    last_occurred_at = excluded.last_occurred_at, version = excluded.version, position = excluded.position
where u.version <= excluded.version;
