-- One primary-key lookup per request, never cached: a revoked key must stop working on the next request on every node.
select name, role, factory_id, secret_hash
from ledger.api_keys
where id = @id and revoked_at is null
