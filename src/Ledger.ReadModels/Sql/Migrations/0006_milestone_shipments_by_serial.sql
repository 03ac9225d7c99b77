-- A batch looks up each of its units' current (uncancelled) shipment: "where serial = $1 and not cancelled order by
-- position desc limit 1" (milestones_load_units.sql). With an index on serial alone the planner could, and under load
-- did, walk the primary key backwards from the newest shipment instead, filtering on serial: tens of thousands of
-- buffers per unit (docs/benchmarks.md, profiling 14). Indexed on (serial, position), the look-up is one index probe.
-- The old index is found by what it is, not by name: a rebuild swaps in a copy of the table whose indexes carry generated
-- names.
do $$
declare
    index_name regclass;
begin
    for index_name in
        select i.indexrelid::regclass from pg_index i
        where i.indrelid = 'ledger.milestone_shipments'::regclass and i.indnatts = 1
          and i.indkey[0] = (select attnum from pg_attribute where attrelid = i.indrelid and attname = 'serial')
          and i.indpred is not null
    loop
        execute format('drop index %s', index_name);
    end loop;
end
$$;
create index milestone_shipments_serial on ledger.milestone_shipments (serial, position) where not cancelled;
