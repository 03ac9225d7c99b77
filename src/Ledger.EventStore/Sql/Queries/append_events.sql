-- Append, round trip 2 of 2: every accepted event of the batch in one set-based statement per table, written as Marten's
-- own quick append writes them (mt_quick_append_events in 0004: one tenant, not archived, the stream's row created with
-- its final version or advanced to it), so Marten's daemon and every reader of Marten's tables see no difference.
-- Marten's function is called once per stream and inserts row by row: a 100-event request across units was a hundred
-- calls, the largest cost of batch ingest (docs/decisions/0008). The streams are locked by round trip 1.

-- The streams first: mt_events' foreign key needs them. The only update mt_streams_append_only (0005) allows.
insert into ledger.mt_streams as s (id, version, timestamp, tenant_id)
select id, version, now(), '*DEFAULT*'
from unnest(@stream_ids::varchar[], @stream_versions::bigint[]) as u(id, version)
on conflict (id) do update set version = greatest(s.version, excluded.version), timestamp = now();

-- Positions are drawn in the order the events are given (each stream's in version order), as Marten's loop draws them.
insert into ledger.mt_events
    (seq_id, id, stream_id, version, data, type, timestamp, tenant_id, mt_dotnet_type, correlation_id, causation_id, headers,
     user_name, is_archived)
select nextval('ledger.mt_events_sequence'), e.id, e.stream_id, e.version, e.data::jsonb, e.type, @recorded_at, '*DEFAULT*',
       e.dotnet_type, e.correlation_id, e.causation_id, e.headers::jsonb, e.user_name, false
from (select *
      from unnest(@event_ids::uuid[], @event_stream_ids::varchar[], @versions::bigint[], @data::text[], @types::varchar[],
                  @dotnet_types::varchar[], @correlation_ids::varchar[], @causation_ids::varchar[], @headers::text[],
                  @user_names::varchar[])
           with ordinality as u(id, stream_id, version, data, type, dotnet_type, correlation_id, causation_id, headers,
                                user_name, ordinal)
      order by ordinal) as e
returning id, seq_id;
