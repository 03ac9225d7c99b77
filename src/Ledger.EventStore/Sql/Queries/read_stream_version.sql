select version from ledger.streams where stream_id = @stream_id;
