select revoked_at is not null from ledger.api_keys where id = @id
