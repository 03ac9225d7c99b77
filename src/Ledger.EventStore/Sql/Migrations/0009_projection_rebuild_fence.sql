-- Zero-downtime rebuilds under Marten's async daemon (issue 12, docs/projections.md "Rebuilds").
--
-- A rebuild swaps its shadow tables in by renaming, while Marten's daemon may be in the middle of a batch it computed
-- from the tables being replaced: that batch's writes, blocked on the swap's locks, would land in the new tables after
-- the swap commits. Marten's own guard on the batch's progression update (where last_seq_id = floor) does not stop it: in
-- Marten 9.62.0 a batch with our writes in it commits although that update matched no row (measured: RebuildTests,
-- docs/projections.md). So every batch checks the table generation it read against the current one, last in its own
-- transaction, and fails (and is run again by Marten from its progression) when a swap came in between.
alter table ledger.projection_checkpoints add column generation bigint not null default 0;

comment on column ledger.projection_checkpoints.generation is
    'How many times a rebuild swapped new tables in: a daemon batch computed from older tables must not commit.';

-- Called by every daemon batch after its writes (RebuildFence). It takes a share lock on the checkpoint row, which the
-- swap updates: a batch that waited for the swap sees the new generation here and fails. No checkpoint row yet means no rebuild ever swapped (generation 0).
create function ledger.projection_fence(p_name text, p_generation bigint) returns boolean
language plpgsql as $$
declare
    current_generation bigint;
begin
    select generation into current_generation from ledger.projection_checkpoints where name = p_name for share;
    if coalesce(current_generation, 0) <> p_generation then
        raise exception 'projection % swapped in rebuilt tables (generation % to %) after this batch read its tables',
            p_name, p_generation, current_generation
            using errcode = 'LR001',
                  hint = 'Not a fault of the projection: Marten runs the batch again from the projection''s progression.';
    end if;
    return true;
end
$$;

-- The rebuild's attempt (projection_rebuild_begin.sql) and how far its total has counted the live progression's events.
alter table ledger.projection_checkpoints add column rebuild_attempt uuid;
alter table ledger.projection_checkpoints add column rebuild_counted_to bigint;
