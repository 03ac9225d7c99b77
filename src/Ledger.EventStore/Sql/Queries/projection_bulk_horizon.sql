-- The bulk replay's horizon: the feed's high-water mark (every position at or below it is committed or provably dead, so
-- the events at or below it are a fixed set that no later commit can add to), the last event at or below it (where the
-- replay batches carry on; null when there is none) and how many events that is. One statement, one snapshot.
select h.mark, last.position,
       (select count(*) from ledger.events where position <= h.mark) as events
from (select coalesce((select last_seq_id from ledger.mt_event_progression where name = 'HighWaterMark'), 0) as mark) h
left join lateral (
    select position from ledger.events where position <= h.mark order by position desc limit 1
) last on true;
