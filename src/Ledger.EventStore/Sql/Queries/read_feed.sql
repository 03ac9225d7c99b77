-- The global feed in position order, up to Marten's high-water mark: every sequence number at or below it is committed or
-- provably dead (no live transaction can still fill it, 0006 Q5/Q6), so an event whose transaction commits late is held
-- back until it commits, never skipped. Marten keeps the mark in mt_event_progression wherever a store runs.
select position, event_id, stream_id, stream_version, type, data::text, metadata::text,
       occurred_at, recorded_at, hash
from ledger.events
where position > @after_position
  and position <= (select coalesce(max(last_seq_id), 0) from ledger.mt_event_progression where name = 'HighWaterMark')
  and (@types::text[] is null or type = any(@types::text[]))
order by position
limit @max_count;
