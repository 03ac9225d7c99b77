-- read_streams_to_decide.sql for one stream: kept apart, as read_one_stream.sql is, because PostgreSQL plans this one
-- once for good when prepared, while "= any(array)" is planned afresh on every call.
select event_id, stream_id, stream_version, type, data::text, occurred_at
from ledger.events
where stream_id = @stream_id
order by stream_version;
