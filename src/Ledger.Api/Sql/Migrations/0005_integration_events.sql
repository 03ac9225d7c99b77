-- Integration events (issue 13, docs/integration-events.md).

-- The journal of the local transport: every integration event the service's own durable local queue received, once per
-- message id, so the demo shows what downstream systems would receive and tests can check delivery. Deliveries counts
-- the receipts (more than one: a redelivery, which the at-least-once contract allows); the body is the first one's.
create table if not exists ledger.integration_events (
    message_id  uuid        primary key,
    -- The order of first receipt, for paging.
    seq         bigint      generated always as identity unique,
    type        text        not null,
    body        jsonb       not null,
    received_at timestamptz not null default now(),
    deliveries  integer     not null default 1
);

-- The subscription that publishes UnitShipped/UnitDelivered/UnitCommissioned (Wolverine subscription "integration", its
-- progression row integration:All) starts at the head of the ledger this migration finds: a ledger that already holds
-- years of history does not flood downstream systems with it on upgrade. Events recorded before the upgrade are never
-- published (docs/integration-events.md). An empty ledger gets no row, and the subscription starts at 0: Marten inserts
-- the row of a shard it starts from 0 itself, and a row of ours at 0 failed that insert (23505) in every batch.
insert into ledger.mt_event_progression (name, last_seq_id, last_updated)
select 'integration:All', max(seq_id), now() from ledger.mt_events
having max(seq_id) > 0
on conflict (name) do nothing;
