-- Serializes bootstrap across nodes starting together; released when the transaction ends.
select pg_advisory_xact_lock(hashtext('ledger-api/bootstrap-admin'))
