-- The first event after a cursor in feed order: a skip is allowed only when that is the failed event.
select event_id from ledger.events
where (transaction_id, position) > (@after_transaction_id::xid8, @after_position)
order by transaction_id, position
limit 1;
