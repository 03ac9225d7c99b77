-- Re-ranks the touched factories' builds by (occurred_at, position), from each factory's earliest new build on: a build
-- recorded late with an earlier occurred_at moves every later unit up one, so the 1,000th unit may now be a different
-- serial. Builds before a factory's earliest new build keep their rank, so the ranking starts at the latest stored
-- milestone before it (its nth is still right) and numbers only the builds after it: in-order ingest ranks fewer than
-- 1,000 + the batch's builds per factory, not every build the factory ever made. With no milestone before it (the new
-- build is the factory's earliest), every build is ranked.
-- A factory's build count only grows, so every milestone row already stored is still a milestone; upserting them (no
-- delete) is enough.
with starts as (
    select * from unnest(@factory_ids::text[], @from_occurred_ats::timestamptz[], @from_positions::bigint[])
        as s(factory_id, occurred_at, position)
),
anchors as (
    select s.factory_id, coalesce(a.nth, 0) as nth,
           coalesce(a.occurred_at, '-infinity'::timestamptz) as occurred_at, coalesce(a.position, 0) as position
    from starts s
    left join lateral (
        select m.nth, b.occurred_at, b.position
        from {ledger.milestone_units} m
        join {ledger.milestone_builds} b on b.serial = m.serial
        where m.factory_id = s.factory_id and (b.occurred_at, b.position) < (s.occurred_at, s.position)
        order by m.nth desc
        limit 1
    ) a on true
)
insert into {ledger.milestone_units} as m (factory_id, nth, serial, occurred_at, local_date)
select factory_id, nth, serial, occurred_at, local_date
from (
    select a.factory_id, b.serial, b.occurred_at, b.local_date,
           a.nth + row_number() over (partition by a.factory_id order by b.occurred_at, b.position) as nth
    from anchors a
    -- Lateral, in index order: one index range scan per factory from its anchor on.
    cross join lateral (
        select serial, occurred_at, position, local_date
        from {ledger.milestone_builds}
        where factory_id = a.factory_id and (occurred_at, position) > (a.occurred_at, a.position)
        order by factory_id, occurred_at, position
    ) b
) ranked
where nth = 1 or nth % 1000 = 0
on conflict (factory_id, nth) do update
set serial = excluded.serial, occurred_at = excluded.occurred_at, local_date = excluded.local_date
where m.serial <> excluded.serial;
