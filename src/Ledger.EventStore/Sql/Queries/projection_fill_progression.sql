-- The end of a fill's swap, in its transaction: the daemon carries on from the horizon the tables now hold.
update ledger.mt_event_progression set last_seq_id = @live_position, last_updated = now() where name = @shard;
