-- Committed events not yet sealed, in feed order (position), up to the feed's head: Marten's high-water mark, below which
-- every sequence number is committed or provably dead (decision 0006, Q5/Q6). A transaction that drew its position and
-- has not committed holds the mark below it, so no block is sealed past an event that will still appear: it is sealed
-- after it commits, never skipped. Marten's tombstones are not events (the view leaves them out).
select position, hash
from ledger.events
where position > @after_position
  and position <= (select coalesce(max(last_seq_id), 0) from ledger.mt_event_progression where name = 'HighWaterMark')
order by position
limit @max_count;
