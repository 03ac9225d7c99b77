-- A fill of a held read model is recorded as a rebuild request marked as a fill, by the node that holds the
-- projection's rebuild lock, only where the daemon never ran the read model (no progression, or 0) and no rebuild is
-- requested or under way, except a fill's: one that a node stopped in the middle left behind is carried on (from its
-- shadow position, or from scratch if its bulk replay had not finished). 0 rows: nothing to fill, the daemon runs it
-- from its progression. Any other node abandons a fill's request left behind (projection_fill_abandon.sql).
update ledger.projection_checkpoints
set rebuild_requested_at = coalesce(rebuild_requested_at, now()), rebuild_fill = true, updated_at = now()
where name = @name and status = 'running' and (rebuild_requested_at is null or rebuild_fill)
  and coalesce((select last_seq_id from ledger.mt_event_progression where name = @shard), 0) = 0;
