-- The event store's tables. Every statement is idempotent so a half-applied history can never wedge start-up,
-- although the migrator already runs each file in its own transaction under an advisory lock.

create table if not exists ledger.streams (
    stream_id   text        primary key,
    -- Number of events in the stream; 0 means the stream has no events yet (a placeholder created while appending).
    version     bigint      not null check (version >= 0),
    -- Hash of the stream's last event: the next event's hash chains onto it without reading the events table.
    last_hash   bytea,
    created_at  timestamptz not null default now(),
    updated_at  timestamptz not null default now()
);

create sequence if not exists ledger.events_position_seq as bigint;

create table if not exists ledger.events (
    position        bigint      primary key default nextval('ledger.events_position_seq'),
    -- The committing transaction. The feed orders by (transaction_id, position) and only shows transactions below the
    -- snapshot's xmin, so an event whose transaction commits late is never skipped (see docs/architecture.md).
    transaction_id  xid8        not null default pg_current_xact_id(),
    event_id        uuid        not null,
    stream_id       text        not null,
    stream_version  bigint      not null check (stream_version >= 1),
    type            text        not null,
    data            jsonb       not null,
    metadata        jsonb       not null,
    occurred_at     timestamptz not null,
    recorded_at     timestamptz not null,
    hash            bytea       not null,
    constraint events_event_id_key unique (event_id),
    constraint events_stream_version_key unique (stream_id, stream_version)
);

alter sequence ledger.events_position_seq owned by ledger.events.position;

create index if not exists events_feed_idx on ledger.events (transaction_id, position);

-- History is append-only. The service role is also denied UPDATE/DELETE/TRUNCATE by grants; the trigger holds even for
-- the table owner, so a mistaken script cannot quietly rewrite history.
create or replace function ledger.reject_event_change() returns trigger
language plpgsql as $$
begin
    raise exception 'ledger.events is append-only: % is not allowed', tg_op
        using errcode = 'P0001',
              hint = 'Record a correcting event instead of changing history.';
end;
$$;

drop trigger if exists events_append_only on ledger.events;
create trigger events_append_only
    before update or delete on ledger.events
    for each row execute function ledger.reject_event_change();

drop trigger if exists events_no_truncate on ledger.events;
create trigger events_no_truncate
    before truncate on ledger.events
    for each statement execute function ledger.reject_event_change();
