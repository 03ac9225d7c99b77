-- Committed events not yet sealed, in feed order, below the same horizon as the feed (read_feed.sql): an event whose
-- transaction is still open is never passed over, so no block can be sealed before an event that belongs in it.
select position, transaction_id, hash
from ledger.events
where (transaction_id, position) > (@after_transaction_id::xid8, @after_position)
  and transaction_id < pg_snapshot_xmin(pg_current_snapshot())
order by transaction_id, position
limit @max_count;
