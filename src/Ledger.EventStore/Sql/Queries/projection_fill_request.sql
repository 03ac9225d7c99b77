-- A fill of a held read model is recorded as a rebuild request, by the node that holds the projection's rebuild lock,
-- only where the daemon never ran the read model (no progression, or 0) and no rebuild is requested or under way; 0 rows:
-- nothing to fill, the daemon runs it from its progression. A node that dies mid-fill leaves the request: another node
-- carries it on as an ordinary rebuild, which swaps once the progression has passed what the shadow tables hold.
update ledger.projection_checkpoints
set rebuild_requested_at = now(), updated_at = now()
where name = @name and rebuild_requested_at is null and status = 'running'
  and coalesce((select last_seq_id from ledger.mt_event_progression where name = @shard), 0) = 0;
