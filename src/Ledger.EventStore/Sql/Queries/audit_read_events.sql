-- Events in position order, a page at a time, for export (columns of EventStore.ReadRecordedEvent).
select position, event_id, stream_id, stream_version, type, data::text, metadata::text, occurred_at, recorded_at, hash
from ledger.events
where position > @after_position and position <= @to_position
order by position
limit @max_count;
