-- A different configured bootstrap key replaces the live one of that name (rotation by configuration).
update ledger.api_keys set revoked_at = @created_at
where name = @name and revoked_at is null and id <> @id
