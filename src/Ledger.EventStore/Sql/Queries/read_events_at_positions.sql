-- The events the Marten daemon handed a projection, as the ledger stores them (payload text, metadata, hash), in position
-- order. Every position is at or below the high-water mark the daemon loaded them under, so all are committed.
select position, event_id, stream_id, stream_version, type, data::text, metadata::text,
       occurred_at, recorded_at, hash
from ledger.events
where position = any(@positions::bigint[])
order by position;
