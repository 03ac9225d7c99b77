-- At the end of a replay batch, in its transaction: the shadow tables hold every event up to @shadow_position, if the
-- attempt is still the current one and nobody moved the shadow position (0 rows: roll back). The total grows by the events
-- the live progression passed since it was last counted.
update ledger.projection_checkpoints
set shadow_position = @shadow_position,
    rebuild_events_done = coalesce(rebuild_events_done, 0) + @events,
    rebuild_events_total = coalesce(rebuild_events_total, 0)
        + (select count(*) from ledger.events where position > coalesce(rebuild_counted_to, 0) and position <= @live_position),
    rebuild_counted_to = greatest(coalesce(rebuild_counted_to, 0), @live_position),
    updated_at = now()
where name = @name and rebuild_attempt = @attempt and shadow_position = @from_position
  and rebuild_requested_at is not null and status = 'running';
