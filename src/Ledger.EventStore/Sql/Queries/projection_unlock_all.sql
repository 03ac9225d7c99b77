-- Releases every projection this session owns (clean shutdown, or before giving up a session that may still be alive).
select pg_advisory_unlock_all();
