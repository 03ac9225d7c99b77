-- Keyset pagination by serial; every filter is optional. from/to bound when the unit was built.
select serial, factory_id, line, model, nameplate_kwh, state, latest_test_result, latest_test_station,
       latest_measured_kwh, latest_round_trip_efficiency, latest_failure_code, shipment_id, carrier,
       destination_country, destination_region, destination_site, site, built_at, tested_at, reworked_at, shipped_at,
       delivered_at, commissioned_at, scrapped_at, last_occurred_at, version, position
from ledger.unit_status
where (@after::text is null or serial > @after)
  and (@factory_id::text is null or factory_id = @factory_id)
  and (@state::text is null or state = @state)
  and (@region::text is null or destination_region = @region)
  and (@country::text is null or destination_country = @country)
  and (@built_from::timestamptz is null or built_at >= @built_from)
  and (@built_to::timestamptz is null or built_at < @built_to)
order by serial
limit @limit;
