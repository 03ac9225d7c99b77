-- The indexes of an empty shadow table (the copies "like … including all" made, primary key and unique constraints
-- included), each as the statement that creates it again and the one that drops it. A bulk replay drops them before it
-- copies its rows in and creates them again once the rows are there: building an index over a table at once is much
-- cheaper than maintaining it row by row through the COPY (docs/projections.md, "The bulk replay"). Identifiers only,
-- quoted by PostgreSQL itself (regclass, %I); the names stay those the copy was given.
select case when c.oid is null then pg_get_indexdef(i.indexrelid)
            else format('alter table %s add constraint %I %s', i.indrelid::regclass, c.conname, pg_get_constraintdef(c.oid)) end,
       case when c.oid is null then format('drop index %s', i.indexrelid::regclass)
            else format('alter table %s drop constraint %I', i.indrelid::regclass, c.conname) end
from pg_index i
left join pg_constraint c on c.conindid = i.indexrelid and c.conrelid = i.indrelid and c.contype in ('p', 'u', 'x')
where i.indrelid = @table::regclass
order by c.oid is null, i.indexrelid;
