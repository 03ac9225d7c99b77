-- The global feed, gap-free by construction. Rows are ordered by (transaction_id, position); only transactions below the
-- snapshot's xmin are shown. Every transaction below xmin has finished, so no row can later appear before the cursor:
-- an event whose transaction commits late is held back until it is visible, never skipped.
select position, transaction_id, event_id, stream_id, stream_version, type, data::text, metadata::text,
       occurred_at, recorded_at, hash
from ledger.events
where (transaction_id, position) > (@after_transaction_id::xid8, @after_position)
  and transaction_id < pg_snapshot_xmin(pg_current_snapshot())
  and (@types::text[] is null or type = any(@types::text[]))
order by transaction_id, position
limit @max_count;
