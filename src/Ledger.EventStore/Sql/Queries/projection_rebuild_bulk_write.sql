-- Before each write of a bulk replay: locks the checkpoint row and checks the attempt is still the current one,
-- recording its progress and the total its scan counted up to its horizon. 0 rows: the rebuild was taken over,
-- cancelled or failed; the write must not land.
update ledger.projection_checkpoints
set rebuild_events_done = @events_done, rebuild_events_total = @events_total, rebuild_counted_to = @horizon, updated_at = now()
where name = @name and rebuild_attempt = @attempt and shadow_position is null
  and rebuild_requested_at is not null and status = 'running';
