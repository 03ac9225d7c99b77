select transaction_id, position from ledger.projection_checkpoints where name = @name;
