update ledger.idempotency_keys
set state = 'completed', locked_until = null, completed_at = now(), response_status = @status, response_type = @type,
    response_body = @body, response_etag = @etag, response_location = @location
where api_key_id = @api_key_id and idempotency_key = @idempotency_key and state = 'in-flight';
