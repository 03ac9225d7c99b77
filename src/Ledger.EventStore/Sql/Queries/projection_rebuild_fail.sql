-- A replay batch threw on one event, alone: the projection stops, visibly, at that event of its rebuild (retry runs it
-- again from the shadow position; skip moves the shadow position past it and records the skip).
update ledger.projection_checkpoints
set status = 'failed', error = @error, failed_event_id = @event_id, failed_position = @failed_position,
    failed_at = now(), failed_in_rebuild = true, updated_at = now()
where name = @name and rebuild_attempt = @attempt and status = 'running';
