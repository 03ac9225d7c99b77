-- Every read model's row with its position and lag. The position is Marten's: the progression of its shard (0 before its
-- first batch); the lag is ledger.feed_lag of it (migration 0014).
select c.name, coalesce(p.last_seq_id, 0) as position, c.status, c.error, c.failed_event_id, c.failed_position, c.failed_at,
       c.failed_in_rebuild, c.owner_node, c.owner_since, c.rebuild_requested_at, c.rebuild_started_at,
       c.shadow_position, c.rebuild_events_done, c.rebuild_events_total, c.rebuild_finished_at,
       c.updated_at,
       lag.events as lag_events,
       lag.oldest_at as oldest_unprocessed_at,
       now() as now
from ledger.projection_checkpoints c
left join ledger.mt_event_progression p on p.name = ledger.projection_shard(c.name)
cross join lateral ledger.feed_lag(coalesce(p.last_seq_id, 0)) lag
where @name::text is null or c.name = @name
order by c.name;
