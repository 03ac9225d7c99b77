-- Held by the node's ownership session for as long as it lives: how the other nodes tell that this one is gone.
select pg_try_advisory_lock(@node_namespace, hashtext(@node_id));
