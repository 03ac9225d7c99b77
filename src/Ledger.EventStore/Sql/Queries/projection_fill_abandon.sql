-- A fill's request left behind by a node that stopped in the middle of the fill, found by a rebuild (which holds the
-- projection's rebuild lock, so no fill is running): abandoned. The fill never swapped, so the live tables and Marten's
-- progression are the daemon's alone, and it runs the read model from there; the shadow tables are dropped in the same
-- transaction. Clearing the attempt under the row's lock stops any write of the stopped fill that is still in flight
-- (projection_rebuild_lock.sql). 0 rows: not a fill's request (any more); nothing is dropped.
update ledger.projection_checkpoints
set rebuild_requested_at = null, rebuild_started_at = null, rebuild_attempt = null, shadow_position = null,
    rebuild_counted_to = null, rebuild_fill = false, updated_at = now()
where name = @name and rebuild_requested_at is not null and rebuild_fill and status = 'running';
