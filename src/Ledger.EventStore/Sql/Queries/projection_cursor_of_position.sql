select transaction_id, position from ledger.events where position = @position;
