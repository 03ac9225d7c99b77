-- The projections' cursors become positions (issue 12, decision 0006): since 0006 the feed is ordered by position
-- (Marten's seq_id) and shows positions up to the high-water mark, so there are no transaction ids to keep.
-- 0006 runs only over a store without events (an upgrade is an export with the old release and an import into the new),
-- so every cursor still stands at the start of the feed and nothing needs translating; a checkpoint past the start would
-- mean read-model tables holding events that the new store does not, and is refused rather than guessed at.
do $$
begin
    if exists (select 1 from ledger.projection_checkpoints
               where position <> 0 or coalesce(shadow_position, 0) <> 0) then
        raise exception 'a projection checkpoint is past the start of the feed, but the store holds no events of this release'
            using errcode = 'P0001',
                  hint = 'Migrate an empty database and import the previous release''s export into it '
                      || '(docs/operations.md, "Upgrading from the own store"); its read models are built from the import.';
    end if;
end
$$;

alter table ledger.projection_checkpoints drop column transaction_id;
alter table ledger.projection_checkpoints drop column shadow_transaction_id;
alter table ledger.projection_skips drop column transaction_id;

comment on column ledger.projection_checkpoints.position is
    'The live tables hold the effect of every event up to and including this position (0: none yet).';
comment on column ledger.projection_checkpoints.shadow_position is
    'A rebuild''s shadow tables hold every event up to and including this position; null until the replay has started.';
