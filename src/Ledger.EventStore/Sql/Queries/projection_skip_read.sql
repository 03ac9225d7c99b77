-- The failed read model, where Marten's progression stands (or, for a failure in a rebuild, the rebuild's shadow
-- position), and the event at the failed position, with the row locked for the skip.
select c.status, c.failed_event_id, c.failed_position, c.failed_in_rebuild, c.error,
       case when c.failed_in_rebuild then coalesce(c.shadow_position, 0)
            else coalesce((select p.last_seq_id from ledger.mt_event_progression p where p.name = ledger.projection_shard(c.name)), 0) end,
       e.event_id
from ledger.projection_checkpoints c
left join ledger.events e on e.position = c.failed_position
where c.name = @name
for update of c;
