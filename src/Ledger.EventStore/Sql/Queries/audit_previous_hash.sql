-- The hash a range export's first event of a stream chains onto: the stream's previous event, before the range.
select hash from ledger.events where stream_id = @stream_id and stream_version = @version;
