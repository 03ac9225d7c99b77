-- The last version a time-travel read folds: at most @to_version, and before the first event that occurred after @as_of,
-- so the answer is always a prefix of the stream (the cut of read_stream.sql). 0: the unit had no history by then.
-- Marten's own cut cannot serve: its timestamp is recorded-at, and a version past the end answers nothing
-- (docs/projections.md, "Time travel").
select coalesce(max(stream_version), 0)::bigint
from ledger.events
where stream_id = @stream_id
  and stream_version <= @to_version
  and stream_version < coalesce(
        (select min(stream_version) from ledger.events where stream_id = @stream_id and occurred_at > @as_of),
        9223372036854775807)
