select pg_advisory_unlock(@namespace, hashtext(@name));
