update ledger.projection_checkpoints set owner_node = @node_id, owner_since = now() where name = @name;
