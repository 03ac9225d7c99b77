-- Moves the failed cursor (live or shadow) to exactly the failed event, records who skipped it, and runs the projection again.
insert into ledger.projection_skips (name, event_id, position, error, in_rebuild, skipped_by)
values (@name, @event_id, @event_position, @error, @in_rebuild, @skipped_by);
update ledger.projection_checkpoints
set position = case when @in_rebuild then position else @event_position end,
    shadow_position = case when @in_rebuild then @event_position else shadow_position end,
    status = 'running', error = null, failed_event_id = null, failed_position = null, failed_at = null,
    failed_in_rebuild = false, updated_at = now()
where name = @name;
