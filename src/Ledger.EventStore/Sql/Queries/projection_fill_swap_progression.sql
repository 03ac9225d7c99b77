-- The fill's swap takes the shard's progression row first, as a rebuild's swap does (projection_rebuild_swap_progression),
-- creating it at 0 where Marten has none yet: a daemon batch of another node that inserts it meanwhile waits for this
-- transaction and then fails on the key, and one that updates it waits and then matches nothing (the progress fence).
-- The fill swaps only if the row is still at 0: no daemon applied anything to the live tables it replaces.
insert into ledger.mt_event_progression (name, last_seq_id, last_updated) values (@shard, 0, now())
on conflict (name) do nothing;
select last_seq_id from ledger.mt_event_progression where name = @shard for update;
