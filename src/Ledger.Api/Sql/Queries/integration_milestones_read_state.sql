-- The counts of the batch's factories as committed by earlier batches (a factory without a row has built nothing yet),
-- and the milestones of theirs already recorded from the lowest one the batch can reach on.
select c.factory_id, c.builds, m.milestone
from unnest(@factory_ids::text[]) as f(factory_id)
join ledger.integration_milestone_counts c on c.factory_id = f.factory_id
left join ledger.integration_milestones m on m.factory_id = c.factory_id and m.milestone > c.builds;
