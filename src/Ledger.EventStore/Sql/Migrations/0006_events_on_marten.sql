-- Events live in Marten's ledger.mt_events from now on (issue 12, decision 0006). This retires the store's own tables and
-- gives Marten's rows the ledger's vocabulary back as the view ledger.events, which every reader (feed, audit, bulk
-- scans) uses. Appends go through Marten; imports write mt_streams/mt_events as owner.

-- A database that still holds events of the previous release is not converted in place: the supported upgrade is to
-- export it with that release and import the file into a new database (docs/operations.md, "Upgrading from the own
-- store"), which keeps every position and hash and is verified against a digest taken before.
do $$
begin
    if to_regclass('ledger.events') is not null
       and (select relkind from pg_class where oid = to_regclass('ledger.events')) = 'r'
       and exists (select 1 from ledger.events) then
        raise exception 'ledger.events holds events of the previous release; this release stores them in Marten''s tables'
            using errcode = 'P0001',
                  hint = 'Export with the previous release (ledger export), migrate an empty database with this one and '
                      || 'import the file (docs/operations.md, "Upgrading from the own store").';
    end if;
end
$$;

drop table if exists ledger.events cascade;
drop table if exists ledger.streams cascade;
drop function if exists ledger.reject_event_change();

-- One row per event of the ledger, in the columns the own store had (less its transaction id: the feed is ordered by
-- position, up to Marten's high-water mark). Marten's tombstones (sequence numbers of failed sessions) are not events.
-- What Marten has no column for rides in headers: the chain hash (hex), the sender's occurred-at and the metadata object
-- exactly as recorded, so a hash recomputes from this row alone (docs/auditing.md).
create view ledger.events as
select e.seq_id                                  as position,
       e.id                                      as event_id,
       e.stream_id,
       e.version                                 as stream_version,
       e.type::text                              as type,
       e.data,
       e.headers -> 'metadata'                   as metadata,
       (e.headers ->> 'occurredAt')::timestamptz as occurred_at,
       e.timestamp                               as recorded_at,
       decode(e.headers ->> 'hash', 'hex')       as hash
from ledger.mt_events e
where e.type <> 'tombstone';

-- Wakes whoever reads the feed when its head moves: Marten's high-water mark, below which every sequence number is
-- committed or provably dead (0006, Q5/Q6). An append's own commit is not the moment: the feed shows it only once the
-- mark has passed it.
create or replace function ledger.notify_feed_head() returns trigger
language plpgsql as $$
begin
    if new.name = 'HighWaterMark' and (tg_op = 'INSERT' or new.last_seq_id is distinct from old.last_seq_id) then
        perform pg_notify('ledger_events', '');
    end if;

    return null;
end;
$$;

create trigger mt_event_progression_feed_head
    after insert or update on ledger.mt_event_progression
    for each row execute function ledger.notify_feed_head();
