select position from ledger.projection_checkpoints where name = @name;
