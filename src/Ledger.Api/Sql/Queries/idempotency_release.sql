-- The request failed for a reason a retry may not meet again (the database was unreachable, a bug): forget the key so
-- that the retry is processed rather than answered with the failure.
delete from ledger.idempotency_keys
where api_key_id = @api_key_id and idempotency_key = @idempotency_key and state = 'in-flight';
