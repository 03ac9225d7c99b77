-- Several streams at once, each in version order: one round trip for a batch that touches many units.
select position, event_id, stream_id, stream_version, type, data::text, metadata::text,
       occurred_at, recorded_at, hash
from ledger.events
where stream_id = any(@stream_ids::text[])
order by stream_id, stream_version;
