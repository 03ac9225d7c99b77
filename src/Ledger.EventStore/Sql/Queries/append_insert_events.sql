-- Append, round trip 2 of 2: insert the accepted events set-based and advance their streams. Positions are drawn only
-- here, after every version check has passed, so a losing writer never leaves a gap. Rows arrive from unnest in array
-- order, which is stream-version order within each stream.
insert into ledger.events
    (event_id, stream_id, stream_version, type, data, metadata, occurred_at, recorded_at, hash)
select *
from unnest(@event_ids::uuid[], @stream_ids::text[], @stream_versions::bigint[], @types::text[], @datas::jsonb[],
            @metadatas::jsonb[], @occurred_ats::timestamptz[], @recorded_ats::timestamptz[], @hashes::bytea[])
returning event_id, position, transaction_id;

update ledger.streams as s
set version = u.version, last_hash = u.last_hash, updated_at = now()
from unnest(@updated_stream_ids::text[], @updated_versions::bigint[], @updated_hashes::bytea[]) as u(stream_id, version, last_hash)
where s.stream_id = u.stream_id;

-- Delivered only when the transaction commits; wakes the projection daemons without polling.
select pg_notify('ledger_events', '');
