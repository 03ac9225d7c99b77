-- Exactly once across nodes (issue 13, docs/projections.md "Ownership and failover").
--
-- Each daemon batch moves its shard's row of mt_event_progression with Marten's guarded update (where last_seq_id =
-- the batch's floor), first in the batch's transaction. In Marten 9.62.0 a batch holding our writes commits although
-- that update matched no row (0009; RebuildTests): a node frozen past the ownership timeout, resumed with a batch computed
-- before the freeze, committed its writes after the new owner had applied the same events (NodeFreezeTests: two Megapacks
-- counted twice in factory-throughput). So every batch ends by checking that its own transaction moved the progression:
-- the row's xmin is this transaction's id exactly when the guarded update matched, and the update's row lock, held to
-- the commit, makes any other batch on the same floor wait and then match nothing.
create function ledger.projection_progress_fence(p_shard text) returns boolean
language plpgsql as $$
declare
    moved_here boolean;
begin
    -- txid_current() carries an epoch above the 32-bit xid that xmin holds.
    select xmin = (txid_current() % 4294967296)::text::xid into moved_here from ledger.mt_event_progression where name = p_shard;
    if moved_here is not true then
        raise exception 'projection shard % was moved on by another batch (another node) before this one committed', p_shard
            using errcode = 'LR002',
                  hint = 'Not a fault of the projection: Marten runs the shard again from its progression, where this node still owns it.';
    end if;
    return true;
end
$$;
