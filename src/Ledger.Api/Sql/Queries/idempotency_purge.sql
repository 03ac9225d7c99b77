delete from ledger.idempotency_keys where created_at < now() - @retention;
