-- The swap's read of the live progression, locked first: Marten's batch updates this row first, then writes the tables,
-- then runs the fence (checkpoint row), and the swap takes them in the same order, so the two never deadlock. While the
-- swap holds it, no daemon batch of the projection can commit.
select last_seq_id from ledger.mt_event_progression where name = @shard for update;
