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
-- age is lagSeconds; null when there is none). Both on the position index (mt_events' primary key); the count costs in
-- proportion to the lag, which is why a sampler that runs often asks only for the oldest. plpgsql, so that a session
-- plans each query once: a SQL function reading a table is not inlined and would be planned again by every statement
-- calling it, which the prepared status read (issue 15, P5) exists to avoid.
create function ledger.events_after(p_position bigint) returns bigint
language plpgsql stable parallel safe as $$
begin
    return (select count(*) from ledger.events e where e.position > p_position);
end
$$;

create function ledger.oldest_event_after(p_position bigint) returns timestamptz
language plpgsql stable parallel safe as $$
begin
    return (select e.recorded_at from ledger.events e where e.position > p_position order by e.position limit 1);
end
$$;
