-- A rebuild's state, read by the node that holds the projection's rebuild lock, with the live progression (Marten's,
-- shard '<name>:All'; 0 before the daemon first moved it).
select c.rebuild_requested_at is not null and c.status = 'running' as requested,
       c.shadow_position,
       c.rebuild_fill,
       coalesce((select last_seq_id from ledger.mt_event_progression where name = @shard), 0) as live_position
from ledger.projection_checkpoints c
where c.name = @name;
