-- The swap's read of the live progression, locked: taken after the live tables and the checkpoint row, the order a
-- daemon batch takes them in (its writes, its fence, its progression update), so the two never deadlock.
select last_seq_id from ledger.mt_event_progression where name = @shard for update;
