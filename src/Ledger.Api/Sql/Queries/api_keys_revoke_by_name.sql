update ledger.api_keys set revoked_at = @revoked_at
where name = @name and revoked_at is null
returning id, name, role, factory_id, created_at, revoked_at
