-- One definition each of two rules that the projections' status, the skip, the read-your-writes wait, the integration
-- subscriptions' status and the benchmarks' lag sampling used to write out themselves (docs/projections.md, "Lag").

-- The shard a read model or subscription runs as in Marten's daemon, i.e. its row in mt_event_progression: JasperFx's
-- ShardName(name).Identity, "<name>:All" (MartenSetup.ShardName on the C# side; ProjectionShardSqlTests checks that the
-- two agree). A single SQL expression, so PostgreSQL inlines it and a join on it still uses the progression's key.
create function ledger.projection_shard(p_name text) returns text
language sql immutable parallel safe as $$
    select p_name || ':All'
$$;

-- How far behind a progression is: the events stored after it (lagEvents) and when the oldest of them was recorded (its
-- age is lagSeconds; null when there is none), both on the position index (mt_events' primary key). A single-SELECT SQL
-- table function, so that PostgreSQL inlines it where it is joined (lateral): the status read plans and runs as it did
-- with the subqueries written out (pgbench, prepared, three read models at 100,000 events: 0.08-0.09 ms caught up,
-- 1.2-1.3 ms with one 10,000 events behind, both ways; a plpgsql function took 0.24-0.26 and 1.4 ms), and a caller that
-- reads only oldest_at does not run the count, which costs in proportion to the lag (the samplers, several times a
-- second).
create function ledger.feed_lag(p_position bigint) returns table (events bigint, oldest_at timestamptz)
language sql stable parallel safe as $$
    select (select count(*) from ledger.events e where e.position > p_position),
           (select e.recorded_at from ledger.events e where e.position > p_position order by e.position limit 1)
$$;
