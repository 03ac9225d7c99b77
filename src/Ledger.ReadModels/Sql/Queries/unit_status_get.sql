select serial, factory_id, line, model, nameplate_kwh, state, latest_test_result, latest_test_station,
       latest_measured_kwh, latest_round_trip_efficiency, latest_failure_code, shipment_id, carrier,
       destination_country, destination_region, destination_site, site, built_at, tested_at, reworked_at, shipped_at,
       delivered_at, commissioned_at, scrapped_at, last_occurred_at, version, position
from ledger.unit_status
where serial = @serial;
