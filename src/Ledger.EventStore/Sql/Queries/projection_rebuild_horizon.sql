-- A bulk replay's horizon: the live progression of its read model (at or below Marten's high-water mark, so the events
-- at or below it are a fixed set that no later commit can add to). Read in the shared scan's snapshot.
select coalesce((select last_seq_id from ledger.mt_event_progression where name = @shard), 0);
