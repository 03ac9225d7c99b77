-- One stream in version order, from a version up to an optional last version and an optional point in time.
-- The time cut stops at the first event past it, so the answer is always a prefix of the stream.
select position, event_id, stream_id, stream_version, type, data::text, metadata::text,
       occurred_at, recorded_at, hash
from ledger.events
where stream_id = @stream_id
  and stream_version >= @from_version
  and stream_version <= @to_version
  and stream_version < coalesce(
        (select min(stream_version) from ledger.events
         where stream_id = @stream_id
           and case when @by_recorded then recorded_at else occurred_at end > @as_of),
        9223372036854775807)
order by stream_version
limit @max_count;
