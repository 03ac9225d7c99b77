-- The events a replay batch applies: after the shadow position, at or below the live progression (every position at or
-- below it is at or below Marten's high-water mark, so the set is fixed), in position order.
select position, event_id, stream_id, stream_version, type, data::text, metadata::text,
       occurred_at, recorded_at, hash
from ledger.events
where position > @after_position and position <= @up_to
order by position
limit @max_count;
