-- Ownership of a projection: a session-level advisory lock on the node's ownership connection. It vanishes with the
-- session (node crash, connection killed, server restart), so there is never more than one owner.
select pg_try_advisory_lock(@namespace, hashtext(@name));
