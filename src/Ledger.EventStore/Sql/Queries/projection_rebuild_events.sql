-- The events a replay batch applies: after the shadow position, at or below the live progression (every position at or
-- below it is at or below Marten's high-water mark, so the set is fixed), in position order, without those an operator
-- skipped for this read model (as its live batches leave them out, so the rebuilt model equals the live one).
select e.position, e.event_id, e.stream_id, e.stream_version, e.type, e.data::text, e.metadata::text,
       e.occurred_at, e.recorded_at, e.hash
from ledger.events e
where e.position > @after_position and e.position <= @up_to
  and not exists (select 1 from ledger.projection_skips s where s.name = @name and s.position = e.position)
order by e.position
limit @max_count;
