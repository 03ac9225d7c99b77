-- The state of the batch's units that earlier batches left behind.
select serial, factory_id, nameplate_kwh, first_tested, shipped_on
from {ledger.factory_throughput_units}
where serial = any(@serials::text[]);
