-- What a writer reads of several streams before it decides on their next events, each in version order: enough to fold
-- a stream's state and to recognise a retry by its event ids. Not the metadata, the hash, the recorded time or the
-- position, which no decision looks at: rendering the metadata as text and decoding the hash for every stored event of
-- every unit a request touches was a third of what this read cost (docs/benchmarks.md, "Issue 15, the write path's CPU").
select event_id, stream_id, stream_version, type, data::text, occurred_at
from ledger.events
where stream_id = any(@stream_ids::text[])
order by stream_id, stream_version;
