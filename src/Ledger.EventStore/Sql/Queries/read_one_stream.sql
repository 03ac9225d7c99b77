-- One whole stream in version order: what a writer reads before appending to a single stream. Kept apart from
-- read_streams.sql because PostgreSQL plans this one once for good when prepared (its generic plan is as cheap as any
-- custom one), while "= any(array)" is planned afresh on every call.
select position, event_id, stream_id, stream_version, type, data::text, metadata::text,
       occurred_at, recorded_at, hash
from ledger.events
where stream_id = @stream_id
order by stream_version;
