-- The shadow tables exist (created in this transaction): replay starts from the beginning of the feed. The total is what
-- is stored now; it grows with the feed while the rebuild runs.
update ledger.projection_checkpoints
set rebuild_started_at = now(), shadow_position = 0,
    rebuild_events_done = 0, rebuild_events_total = (select count(*) from ledger.events), updated_at = now()
where name = @name
  and rebuild_requested_at is not null and shadow_position is null;
