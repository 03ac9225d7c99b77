-- Tamper evidence beyond the per-stream hash chain: a sealer folds committed events, in feed order, into blocks.
-- Each block holds the positions and hashes of its events in the order they were sealed, the RFC 9162 Merkle root over
-- them, and a chain hash over its header that includes the previous block's chain hash (docs/auditing.md).

create table if not exists ledger.blocks (
    block_number        bigint      primary key check (block_number >= 1),
    -- The sealed events in block order, and their hashes at sealing time (32 bytes each, concatenated). Keeping the
    -- hashes lets a verifier name the exact event that changed and lets a proof be served from the block alone.
    positions           bigint[]    not null check (cardinality(positions) >= 1),
    event_hashes        bytea       not null check (length(event_hashes) = 32 * cardinality(positions)),
    merkle_root         bytea       not null check (length(merkle_root) = 32),
    previous_chain_hash bytea       check (length(previous_chain_hash) = 32),
    chain_hash          bytea       not null check (length(chain_hash) = 32),
    sealed_at           timestamptz not null
);

-- Finds the block that sealed a position (inclusion proofs).
create index if not exists blocks_positions_idx on ledger.blocks using gin (positions);

-- Where the sealer stopped, in feed order. Not evidence itself (a verifier checks the blocks against the events); it only
-- saves the sealer from searching for unsealed events.
create table if not exists ledger.audit_sealer (
    singleton                     boolean primary key default true check (singleton),
    sealed_through_transaction_id xid8    not null default '0'::xid8,
    sealed_through_position       bigint  not null default 0
);

insert into ledger.audit_sealer (singleton) values (true) on conflict do nothing;

create or replace function ledger.reject_block_change() returns trigger
language plpgsql as $$
begin
    raise exception 'ledger.blocks is append-only: % is not allowed', tg_op
        using errcode = 'P0001',
              hint = 'Sealed blocks are evidence; they are never changed.';
end;
$$;

drop trigger if exists blocks_append_only on ledger.blocks;
create trigger blocks_append_only
    before update or delete on ledger.blocks
    for each row execute function ledger.reject_block_change();

drop trigger if exists blocks_no_truncate on ledger.blocks;
create trigger blocks_no_truncate
    before truncate on ledger.blocks
    for each statement execute function ledger.reject_block_change();
