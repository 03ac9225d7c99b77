-- The integration subscriptions' status (ProjectionAdmin.GetSubscriptionStatusAsync): what Marten's daemon records of each
-- shard in its progression row, and the lag by the same rules as the read models' (migration 0014). agent_status,
-- pause_reason and the failure_* columns are Marten's extended progression tracking (MartenSetup): the owner's daemon
-- writes them at each start, pause and stop, and a start clears the failure. The owner is whoever holds the shard's
-- HotCold lock now (a bigint advisory lock shows as classid = its high 32 bits, objid = its low 32 bits, objsubid = 1),
-- named by its session's application_name (ledger-api/<node>).
select s.name, coalesce(p.last_seq_id, 0) as position, p.agent_status, p.pause_reason, p.failure_category,
       p.failure_event_sequence, f.event_id, p.heartbeat, p.last_updated,
       lag.events as lag_events,
       lag.oldest_at as oldest_unprocessed_at,
       (select string_agg(coalesce(nullif(substring(a.application_name from '/(.+)$'), ''), a.application_name), ',' order by a.pid)
        from pg_locks l join pg_stat_activity a on a.pid = l.pid
        where l.locktype = 'advisory' and l.granted and l.objsubid = 1
          and l.classid::bigint = (s.lock_key >> 32) and l.objid::bigint = (s.lock_key & 4294967295)
          and l.database = (select oid from pg_database where datname = current_database())) as owner_node,
       now() as now
from unnest(@names::text[], @lock_keys::bigint[]) with ordinality as s(name, lock_key, n)
left join ledger.mt_event_progression p on p.name = ledger.projection_shard(s.name)
cross join lateral ledger.feed_lag(coalesce(p.last_seq_id, 0)) lag
left join ledger.events f on f.position = p.failure_event_sequence
order by s.n;
