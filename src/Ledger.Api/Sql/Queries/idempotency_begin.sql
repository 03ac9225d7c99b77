-- Claims a key for this request: a new key, or one whose earlier holder's lease lapsed (it crashed mid-request) and
-- that was for the same request. Returns a row only if this request now holds the key.
insert into ledger.idempotency_keys (api_key_id, idempotency_key, fingerprint, state, locked_until)
values (@api_key_id, @idempotency_key, @fingerprint, 'in-flight', now() + @lease)
on conflict (api_key_id, idempotency_key) do update
    set locked_until = excluded.locked_until
    where ledger.idempotency_keys.state = 'in-flight'
      and ledger.idempotency_keys.locked_until < now()
      and ledger.idempotency_keys.fingerprint = excluded.fingerprint
returning true;
