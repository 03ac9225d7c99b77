-- Planner statistics for ledger.mt_events as soon as it holds events (issue 15, docs/benchmarks.md "Marten's gap query").
--
-- Marten's high-water detection runs on every node at every wake-up (each append's notification): a query over
-- `seq_id >= :mark` with lead() over seq_id. Until the table has been analyzed with rows in it there is no histogram on
-- seq_id, the planner takes a third of the table for that range, and it sorts a sequential scan of the whole table
-- instead of reading the few rows above the mark from the primary key: 30-37 ms a call at 100,000 events here, growing
-- with the table, against 0.2 ms once a histogram exists (even an old one: beyond its bounds the planner reads the
-- index's actual end). Autovacuum analyzes a new table only at its next visit to the database (autovacuum_naptime, one
-- minute by default), which a fresh ledger filling fast (`ledger run`'s demo seeding), an import or a restore spends
-- in that plan. The service role may not ANALYZE a table it does not own; this function, run with its owner's rights,
-- does that one thing. Returns whether seq_id has a histogram afterwards.
create function ledger.analyze_events_once(p_min_rows integer) returns boolean
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
begin
    if exists (select 1 from pg_stats
               where schemaname = 'ledger' and tablename = 'mt_events' and attname = 'seq_id' and histogram_bounds is not null) then
        return true;
    end if;
    -- A handful of events would give a histogram too, but one not worth an ANALYZE per node and wake-up: below this the
    -- sorted scan costs little.
    if not exists (select 1 from ledger.mt_events offset p_min_rows) then
        return false;
    end if;
    analyze ledger.mt_events;
    return exists (select 1 from pg_stats
                   where schemaname = 'ledger' and tablename = 'mt_events' and attname = 'seq_id' and histogram_bounds is not null);
end
$$;
