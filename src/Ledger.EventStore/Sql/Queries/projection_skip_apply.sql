-- Records who skipped which event and runs the read model again: MartenSqlProjection leaves out every recorded skip of
-- its read model when Marten hands it that event, and applies the rest of the batch.
insert into ledger.projection_skips (name, event_id, position, error, in_rebuild, skipped_by)
values (@name, @event_id, @event_position, @error, @in_rebuild, @skipped_by);
update ledger.projection_checkpoints
set status = 'running', error = null, failed_event_id = null, failed_position = null, failed_at = null,
    failed_in_rebuild = false, updated_at = now()
where name = @name;
