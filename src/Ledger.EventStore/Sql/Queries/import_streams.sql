-- Before each chunk of events is copied, the streams they belong to (fkey_mt_events_stream_id): created with the chunk's
-- last version and times, or advanced to them (the only update mt_streams_append_only allows; never backwards, even for
-- a file whose versions are out of order, which verification then refuses). Values as Marten's own
-- append writes them (mt_quick_append_events): one tenant, not archived.
insert into ledger.mt_streams as s (id, version, timestamp, created, tenant_id, is_archived)
select id, version, last_recorded_at, first_recorded_at, '*DEFAULT*', false
from unnest(@stream_ids::varchar[], @versions::bigint[], @first_recorded_ats::timestamptz[], @last_recorded_ats::timestamptz[])
    as u(id, version, first_recorded_at, last_recorded_at)
on conflict (id) do update set version = greatest(s.version, excluded.version), timestamp = greatest(s.timestamp, excluded.timestamp);
