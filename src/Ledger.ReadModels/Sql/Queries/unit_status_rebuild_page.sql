-- A page of streams in stream_id order (keyset), for the replay into the shadow table.
select stream_id from ledger.streams where stream_id > @after and version > 0 order by stream_id limit @limit;
