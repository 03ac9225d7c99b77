-- How far a read model has applied the feed: Marten's progression of its shard.
select last_seq_id from ledger.mt_event_progression where name = ledger.projection_shard(@name);
