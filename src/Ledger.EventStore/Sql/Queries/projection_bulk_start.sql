-- A bulk replay begins (the shadow tables were created empty in this transaction). rebuild_started_at, from the clock
-- rather than the transaction's start, identifies this attempt: every write of the replay and its finish check it, so an
-- attempt that was restarted (by a crash, or another owner) can no longer write. The shadow cursor stays null until the
-- replay has written everything up to its horizon: an attempt that dies before that is started again from scratch.
update ledger.projection_checkpoints
set rebuild_started_at = clock_timestamp(), shadow_position = null,
    rebuild_events_done = 0, rebuild_events_total = (select count(*) from ledger.events), updated_at = now()
where name = @name
  and rebuild_requested_at is not null and shadow_position is null and status = 'running'
returning rebuild_started_at;
