-- The bulk replay has written every event up to its horizon: the shadow cursor moves there, and replay batches carry on.
update ledger.projection_checkpoints
set shadow_position = @shadow_position,
    rebuild_events_done = @events_done,
    rebuild_events_total = greatest(rebuild_events_total, @events_done), updated_at = now()
where name = @name
  and rebuild_requested_at is not null and rebuild_started_at = @started_at and shadow_position is null
  and status = 'running';
