-- A rebuild attempt begins: its shadow tables were created empty in this transaction. @attempt identifies it: every
-- write of the rebuild checks it under the checkpoint row's lock, so an attempt that lost its lock (another node took
-- over) can never write into a later attempt's tables. @shadow_position is 0 for replay batches from the start, null
-- while a bulk replay fills the tables (an attempt that dies before the bulk replay finished starts again from scratch).
-- The total counts the events at or below the live progression now and grows as the live progression moves; a bulk
-- replay counts its own in its snapshot (once for every read model that shares its scan) and sets it with its writes.
update ledger.projection_checkpoints
set rebuild_started_at = clock_timestamp(), rebuild_attempt = @attempt, shadow_position = @shadow_position,
    rebuild_events_done = 0,
    rebuild_events_total = case when @shadow_position::bigint is null then 0
                                else (select count(*) from ledger.events where position <= @live_position) end,
    rebuild_counted_to = case when @shadow_position::bigint is null then 0 else @live_position end, updated_at = now()
where name = @name
  and rebuild_requested_at is not null and status = 'running';
