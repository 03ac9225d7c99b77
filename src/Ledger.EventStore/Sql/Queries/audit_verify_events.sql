-- Every event as Marten stores it, in position order, a page at a time, for verification. Read from mt_events itself,
-- not the view: the values the hash covers come out as text and are parsed by the verifier, so a row whose headers were
-- damaged is reported as a mismatch instead of failing the whole read; and only Marten's own tombstones (its stream
-- mt_tombstone) are left out, so an event relabelled as a tombstone in its stream is still checked, and caught.
-- Marten's copies of the metadata (user_name, correlation_id, causation_id) and its visibility columns (tenant_id,
-- is_archived) are not hashed, but Marten's own readers use them: they are checked against the hashed metadata.
select seq_id, id, stream_id, version, type, data::text, (headers -> 'metadata')::text, headers ->> 'occurredAt',
       timestamp, headers ->> 'hash', user_name, correlation_id, causation_id, tenant_id, is_archived
from ledger.mt_events
where seq_id > @after_position
  and not (stream_id = 'mt_tombstone' and type = 'tombstone')
order by seq_id
limit @max_count;
