select factory_id, nth, serial, occurred_at, local_date
from ledger.milestone_units
where @factory_id::text is null or factory_id = @factory_id
order by factory_id collate "C", nth;
