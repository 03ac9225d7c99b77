-- The whole history of the units a batch touched, including the events this transaction just inserted.
select position, transaction_id, event_id, stream_id, stream_version, type, data::text, metadata::text,
       occurred_at, recorded_at, hash
from ledger.events
where stream_id = any(@stream_ids::text[])
order by stream_id, stream_version;
