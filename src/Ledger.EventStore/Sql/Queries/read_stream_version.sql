select version from ledger.mt_streams where id = @stream_id;
