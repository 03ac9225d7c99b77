select fingerprint, state, locked_until > now() as leased, response_status, response_type, response_body,
       response_etag, response_location
from ledger.idempotency_keys
where api_key_id = @api_key_id and idempotency_key = @idempotency_key;
