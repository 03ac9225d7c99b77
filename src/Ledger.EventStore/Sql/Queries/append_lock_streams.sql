-- Append, round trip 1 of 2: make sure every stream of the batch has a row, lock those rows in one global order (so two
-- nodes' batches never deadlock), then look up event ids that are already stored (idempotent retries). The three
-- statements run in this order inside one transaction; the id lookup runs after the locks, so a retry that raced the
-- original request waits for it and then sees its events.
insert into ledger.streams (stream_id, version)
select stream_id from unnest(@stream_ids::text[]) as s(stream_id) order by stream_id
on conflict (stream_id) do nothing;

select stream_id, version, last_hash
from ledger.streams
where stream_id = any(@stream_ids::text[])
order by stream_id
for update;

select event_id, stream_id, stream_version, position, transaction_id, type, data::text, occurred_at
from ledger.events
where event_id = any(@event_ids::uuid[]);
