-- The shadow tables are now the live ones: the live cursor becomes the shadow cursor and the rebuild is over.
update ledger.projection_checkpoints
set position = shadow_position,
    rebuild_requested_at = null, rebuild_started_at = null, shadow_position = null,
    rebuild_finished_at = now(), updated_at = now()
where name = @name
  and shadow_position = @shadow_position
  and position = @live_position
  and status = 'running';
