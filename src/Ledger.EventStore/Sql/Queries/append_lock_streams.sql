-- Append, round trip 1 of 2. Runs as one batch, statement by statement, in one transaction.

-- Lock every stream of the batch, in one global order so that batches on different nodes never deadlock. Advisory
-- locks, not row locks, on purpose: a row lock would assign this transaction its id (xid) before it waits, and a
-- transaction that got its id earlier but commits later would put a stream's later version before its earlier one in
-- the feed, which is ordered by transaction id. Taking the id only after the locks keeps every stream in version order.
select pg_advisory_xact_lock(1280263491, lock_key)
from (select distinct hashtext(stream_id) as lock_key from unnest(@stream_ids::text[]) as s(stream_id)) as keys
order by lock_key;

-- Make sure every stream has a row (a new stream starts at version 0).
insert into ledger.streams (stream_id, version)
select stream_id, 0 from unnest(@stream_ids::text[]) as s(stream_id)
on conflict (stream_id) do nothing;

select stream_id, version, last_hash
from ledger.streams
where stream_id = any(@stream_ids::text[]);

-- Event ids already stored: idempotent retries. Looked up after the locks, so a retry that raced its original request
-- waits for it and then sees its events.
select event_id, stream_id, stream_version, position, transaction_id, type, data::text, occurred_at
from ledger.events
where event_id = any(@event_ids::uuid[]);
