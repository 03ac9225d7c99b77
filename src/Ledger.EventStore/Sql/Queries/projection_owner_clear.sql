update ledger.projection_checkpoints set owner_node = null, owner_since = null where name = @name and owner_node = @node_id;
