-- For the batch's units: the factory (from the build) and the feed position of the current, uncancelled shipment.
select b.serial, b.factory_id, s.position
from {ledger.milestone_builds} b
left join lateral (
    select position from {ledger.milestone_shipments}
    where serial = b.serial and not cancelled
    order by position desc
    limit 1
) s on true
where b.serial = any(@serials::text[]);
