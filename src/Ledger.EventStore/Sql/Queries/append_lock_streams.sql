-- Append, round trip 1 of 2. Runs as one batch, statement by statement, in one transaction.

-- Lock every stream of the batch, in one global order so that batches on different nodes never deadlock. Advisory
-- locks, not mt_streams rows FOR UPDATE: a new stream has no row yet, and creating one for a request that is then
-- refused would leave a version-0 stream behind (0006, Q1). Marten's quick append takes the row lock again when it runs
-- (UseExclusiveLockOnConcurrentAppends); ours comes first, so it never waits there.
select pg_advisory_xact_lock(1280263491, lock_key)
from (select distinct hashtext(stream_id) as lock_key from unnest(@stream_ids::text[]) as s(stream_id)) as keys
order by lock_key;

-- Every stream of the batch with its version and its last event's hash (0 and null for a new stream): the hash chain
-- continues from the stored hash without reading the stream.
select k.stream_id, coalesce(s.version, 0), decode(e.headers ->> 'hash', 'hex')
from unnest(@stream_ids::text[]) as k(stream_id)
left join ledger.mt_streams s on s.id = k.stream_id
left join ledger.mt_events e on e.stream_id = s.id and e.version = s.version;

-- Event ids already stored: idempotent retries. Looked up after the locks, so a retry that raced its original request
-- on the same stream waits for it and then sees its events (on another stream, Marten's unique index on event ids
-- refuses the second and the pipeline runs the batch again, which then lands here).
select event_id, stream_id, stream_version, position, type, data::text, occurred_at
from ledger.events
where event_id = any(@event_ids::uuid[]);
