-- The feed's head: the highest position it may show (Marten's high-water mark; 0 before the first detection).
select coalesce(max(last_seq_id), 0) from ledger.mt_event_progression where name = 'HighWaterMark';
