-- The failed projection and the event it failed on, locked for the skip.
select c.status, c.failed_event_id, c.failed_position, c.failed_in_rebuild, c.error,
       case when c.failed_in_rebuild then c.shadow_position else c.position end,
       e.event_id
from ledger.projection_checkpoints c
left join ledger.events e on e.position = c.failed_position
where c.name = @name
for update of c;
