-- How stale the given read models or subscriptions are at this moment: the age in seconds of the oldest event after any
-- of their progressions (0 when all stand at the head), by the service's own rule for lagSeconds (migration 0013). The
-- benchmark's and the daemon probe's sampler, run several times a second: no count of the events behind, which costs in
-- proportion to the lag and took more of the server than the load being measured. Counts every committed event past a
-- progression, including those Marten's high-water mark has not passed yet: that wait is part of how stale it is.
select coalesce(max(extract(epoch from clock_timestamp() - ledger.oldest_event_after(coalesce(p.last_seq_id, 0)))), 0)::float8
from unnest(@names::text[]) as s(name)
left join ledger.mt_event_progression p on p.name = ledger.projection_shard(s.name);
