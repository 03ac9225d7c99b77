-- Moves the rebuild's shadow cursor only from where this batch started, and counts the replayed events.
update ledger.projection_checkpoints
set shadow_position = @new_position,
    rebuild_events_done = rebuild_events_done + @events,
    rebuild_events_total = greatest(rebuild_events_total, rebuild_events_done + @events),
    updated_at = now()
where name = @name
  and shadow_position = @old_position
  and status = 'running';
