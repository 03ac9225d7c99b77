-- Asynchronous projections: one checkpoint per projection, the nodes running projection daemons, and the audit of events
-- an operator skipped. See docs/projections.md.

create table if not exists ledger.projection_checkpoints (
    name                    text        primary key,
    -- The live tables hold the effect of every event up to and including this feed cursor (0/0: none yet).
    transaction_id          xid8        not null default '0'::xid8,
    position                bigint      not null default 0,
    status                  text        not null default 'running' check (status in ('running', 'failed')),
    -- Set while failed: what the projection threw and the exact event it threw on.
    error                   text,
    failed_event_id         uuid,
    failed_position         bigint,
    failed_at               timestamptz,
    -- True when the failure happened while replaying into the shadow tables of a rebuild.
    failed_in_rebuild       boolean     not null default false,
    -- Informational: the node whose daemon holds the projection's advisory lock (the lock is the truth).
    owner_node              text,
    owner_since             timestamptz,
    -- Blue/green rebuild: requested, then started (shadow tables exist), replayed up to the shadow cursor.
    rebuild_requested_at    timestamptz,
    rebuild_started_at      timestamptz,
    shadow_transaction_id   xid8,
    shadow_position         bigint,
    rebuild_events_done     bigint,
    rebuild_events_total    bigint,
    -- When the last rebuild swapped its tables in.
    rebuild_finished_at     timestamptz,
    updated_at              timestamptz not null default now()
);

create table if not exists ledger.projection_nodes (
    node_id      text        primary key,
    started_at   timestamptz not null default now(),
    heartbeat_at timestamptz not null default now()
);

create table if not exists ledger.projection_skips (
    id              bigint      generated always as identity primary key,
    name            text        not null,
    event_id        uuid        not null,
    position        bigint      not null,
    transaction_id  xid8        not null,
    error           text,
    in_rebuild      boolean     not null,
    skipped_at      timestamptz not null default now(),
    skipped_by      text        not null
);

create index if not exists projection_skips_name_idx on ledger.projection_skips (name, skipped_at);
