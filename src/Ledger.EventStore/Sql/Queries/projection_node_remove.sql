-- A node that stops cleanly leaves at once, so the others take its share without waiting for the timeout.
delete from ledger.projection_nodes where node_id = @node_id;
update ledger.projection_checkpoints set owner_node = null, owner_since = null where owner_node = @node_id;
