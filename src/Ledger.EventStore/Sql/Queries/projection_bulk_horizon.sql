-- The bulk replay's horizon, in its repeatable-read snapshot: every transaction below the snapshot's xmin has finished,
-- so the events below it are a fixed set (read_feed.sql). The last of them in feed order is where the replay batches
-- carry on; null when there are none.
select h.xmin, last.transaction_id, last.position,
       (select count(*) from ledger.events where transaction_id < h.xmin) as events
from (select pg_snapshot_xmin(pg_current_snapshot()) as xmin) h
left join lateral (
    select transaction_id, position from ledger.events
    where transaction_id < h.xmin
    order by transaction_id desc, position desc
    limit 1
) last on true;
