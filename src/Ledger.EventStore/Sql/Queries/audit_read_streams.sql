-- The streams table as the append path keeps it, to check against the events.
select stream_id, version, last_hash from ledger.streams where version > 0 order by stream_id;
