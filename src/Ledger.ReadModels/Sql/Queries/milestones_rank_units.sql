-- Re-ranks the touched factories' builds by (occurred_at, position): a build recorded late with an earlier occurred_at
-- moves every later unit up one, so the 1,000th unit may now be a different serial. A factory's build count only grows,
-- so every milestone row already stored is still a milestone; upserting them (no delete) is enough.
insert into {ledger.milestone_units} as m (factory_id, nth, serial, occurred_at, local_date)
select factory_id, nth, serial, occurred_at, local_date
from (
    select factory_id, serial, occurred_at, local_date,
           row_number() over (partition by factory_id order by occurred_at, position) as nth
    from {ledger.milestone_builds}
    where factory_id = any(@factory_ids::text[])
) ranked
where nth = 1 or nth % 1000 = 0
on conflict (factory_id, nth) do update
set serial = excluded.serial, occurred_at = excluded.occurred_at, local_date = excluded.local_date
where m.serial <> excluded.serial;
