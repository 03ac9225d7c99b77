-- Idempotency-Key (IETF draft "The Idempotency-Key HTTP Header Field"): one row per key per API key, holding the
-- request's fingerprint and, once processed, its response. Rows older than the retention period are purged.
create table if not exists ledger.idempotency_keys (
    api_key_id        uuid        not null,
    idempotency_key   text        not null,
    fingerprint       bytea       not null,
    state             text        not null check (state in ('in-flight', 'completed')),
    -- While in flight: until when the node processing it holds it. A node that died leaves a lapsed lease, which the
    -- next retry takes over.
    locked_until      timestamptz,
    response_status   integer,
    response_type     text,
    response_body     text,
    response_etag     text,
    response_location text,
    created_at        timestamptz not null default now(),
    completed_at      timestamptz,
    primary key (api_key_id, idempotency_key)
);

create index if not exists idempotency_keys_created_at_idx on ledger.idempotency_keys (created_at);
