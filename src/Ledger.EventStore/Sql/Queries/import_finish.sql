-- After the COPYs: the streams table, the position sequence and the sealer's cursor, derived from what was loaded.
insert into ledger.streams (stream_id, version, last_hash)
select distinct on (stream_id) stream_id, stream_version, hash
from ledger.events
order by stream_id, stream_version desc;

select setval('ledger.events_position_seq', greatest((select max(position) from ledger.events), 1));

-- Every imported event carries this transaction's id, so the feed (and the sealer) continues after all of them.
update ledger.audit_sealer
set sealed_through_transaction_id = pg_current_xact_id(),
    sealed_through_position = coalesce((select max(position) from ledger.events), 0);
