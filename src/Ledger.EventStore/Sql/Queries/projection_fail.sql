-- Stops the projection at the event it threw on, only if nobody moved its cursor meanwhile.
update ledger.projection_checkpoints
set status = 'failed', error = @error, failed_event_id = @event_id, failed_position = @failed_position,
    failed_at = now(), failed_in_rebuild = @in_rebuild, updated_at = now()
where name = @name
  and status = 'running'
  and case when @in_rebuild then shadow_position = @cursor_position else position = @cursor_position end;
