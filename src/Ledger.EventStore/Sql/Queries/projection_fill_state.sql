-- A fill's state (ProjectionRebuild.StartFill): a rebuild's (projection_rebuild_state.sql), whose live position is the
-- store's high-water mark instead of the read model's progression. The daemon has never run a held read model, so its
-- progression says nothing; every event at or below the mark is committed (Marten's high-water agent moves it only past
-- committed or abandoned positions), so the events up to it are a fixed set, as below a progression.
select c.rebuild_requested_at is not null and c.status = 'running' as requested,
       c.shadow_position,
       c.rebuild_fill,
       coalesce((select last_seq_id from ledger.mt_event_progression where name = 'HighWaterMark'), 0) as live_position
from ledger.projection_checkpoints c
where c.name = @name;
