-- One sealer at a time across all nodes: a transaction-scoped advisory lock, so a crashed sealer never holds it.
select pg_try_advisory_xact_lock(1280263491, 1);
