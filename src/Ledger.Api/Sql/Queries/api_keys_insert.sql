insert into ledger.api_keys (id, name, role, factory_id, secret_hash, created_at)
values (@id, @name, @role, @factory_id, @secret_hash, @created_at)
