-- The earliest shipment that was not cancelled, per factory and region, by (occurred_at, position). Sorted again in the
-- "C" collation so the order does not depend on the database's locale.
select factory_id, region, serial, country, occurred_at, local_date
from (
    select distinct on (factory_id, region) factory_id, region, serial, country, occurred_at, local_date
    from ledger.milestone_shipments
    where not cancelled and (@factory_id::text is null or factory_id = @factory_id)
    order by factory_id, region, occurred_at, position
) first_shipments
order by factory_id collate "C", region collate "C";
