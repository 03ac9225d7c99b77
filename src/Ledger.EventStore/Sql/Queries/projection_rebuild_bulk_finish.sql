-- The bulk replay has written every event up to its horizon: the shadow position moves there, replay batches carry on.
-- The total is now exactly the events at or below the horizon (counted in the replay's snapshot).
update ledger.projection_checkpoints
set shadow_position = @shadow_position, rebuild_events_done = @events_done,
    rebuild_events_total = @events_done, rebuild_counted_to = @shadow_position, updated_at = now()
where name = @name and rebuild_attempt = @attempt and shadow_position is null
  and rebuild_requested_at is not null and status = 'running';
