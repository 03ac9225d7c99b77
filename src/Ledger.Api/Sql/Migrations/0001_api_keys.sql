-- API keys (docs/api.md, "API keys and roles"). Only a SHA-256 of each key's 256-bit random secret is kept.
create table ledger.api_keys (
    id          uuid        primary key,
    name        text        not null check (length(name) between 1 and 100),
    role        text        not null check (role in ('line', 'reporting', 'auditor', 'admin')),
    factory_id  text,
    secret_hash bytea       not null check (octet_length(secret_hash) = 32),
    created_at  timestamptz not null,
    revoked_at  timestamptz,
    -- A line key acts for exactly one factory; no other role is scoped to one.
    constraint api_keys_factory_iff_line check ((role = 'line') = (factory_id is not null))
);

-- Names identify keys to people (and in event metadata), so two live keys never share one; a revoked key's name is free.
create unique index api_keys_live_name on ledger.api_keys (name) where revoked_at is null;
