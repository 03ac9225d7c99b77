-- Runs a failed projection again from its checkpoint (after the projection's code or data was fixed).
update ledger.projection_checkpoints
set status = 'running', error = null, failed_event_id = null, failed_position = null, failed_at = null,
    failed_in_rebuild = false, updated_at = now()
where name = @name and status = 'failed';
