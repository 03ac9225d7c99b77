select id, name, role, factory_id, created_at, revoked_at
from ledger.api_keys
where @include_revoked or revoked_at is null
order by created_at, id
