-- A page of the journal in order of first receipt, after the cursor's seq, optionally of one message type.
select seq, message_id, type, body::text, received_at, deliveries
from ledger.integration_events
where seq > @after
  and (@type::text is null or type = @type)
order by seq
limit @limit;
