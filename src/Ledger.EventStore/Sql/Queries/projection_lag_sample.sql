-- How stale the given read models or subscriptions are at this moment: the age in seconds of the oldest event after any
-- of their progressions (0 when all stand at the head), by the service's own rule for lagSeconds (migration 0014). The
-- benchmark's and the daemon probe's sampler, run several times a second: it reads only oldest_at, so the inlined
-- function's count of the events behind (which costs in proportion to the lag, and took more of the server than the
-- load being measured) is planned away. It covers every committed event past a progression, including those Marten's
-- high-water mark has not passed yet: that wait is part of how stale a read model is.
select coalesce(max(extract(epoch from clock_timestamp() - lag.oldest_at)), 0)::float8
from unnest(@names::text[]) as s(name)
left join ledger.mt_event_progression p on p.name = ledger.projection_shard(s.name)
cross join lateral ledger.feed_lag(coalesce(p.last_seq_id, 0)) lag;
