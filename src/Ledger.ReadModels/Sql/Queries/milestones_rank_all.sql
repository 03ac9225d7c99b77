-- Bulk replay of a rebuild only: ranks every factory's builds once, after they were all copied in, by the same rule as
-- the live re-rank (milestones_rank_units.sql): the 1st and every 1,000th build by (occurred_at, position).
insert into {ledger.milestone_units} (factory_id, nth, serial, occurred_at, local_date)
select factory_id, nth, serial, occurred_at, local_date
from (
    select factory_id, serial, occurred_at, local_date,
           row_number() over (partition by factory_id order by occurred_at, position) as nth
    from {ledger.milestone_builds}
) ranked
where nth = 1 or nth % 1000 = 0;
