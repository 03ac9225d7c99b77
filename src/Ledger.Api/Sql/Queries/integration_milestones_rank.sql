-- The unit ranked nth among the factory's builds up to the one that reached the milestone, by (occurredAt, position) as the
-- milestones read model ranks them: the builds counted by earlier batches (index range scan in rank order) and the
-- batch's own, which are not committed yet.
select serial, occurred_at
from (
    select b.serial, b.occurred_at, b.position
    from ledger.integration_milestone_builds b
    where b.factory_id = @factory_id and b.position <= @through_position
    union all
    select n.serial, n.occurred_at, n.position
    from unnest(@serials::text[], @occurred_ats::timestamptz[], @positions::bigint[]) as n(serial, occurred_at, position)
    where n.position <= @through_position
) builds
order by occurred_at, position
offset @nth - 1
limit 1;
