-- Units in transit now, counted per destination and kept by the deployments projection as each batch moves units in and
-- out of transit, so "in transit now" reads a row per destination instead of every unit ever shipped.
create table ledger.deployment_in_transit (
    country       text    not null,
    site          text    not null,
    region        text    not null,
    units         integer not null,
    nameplate_kwh numeric not null,
    primary key (country, site)
);

insert into ledger.deployment_in_transit (country, site, region, units, nameplate_kwh)
select country, site, min(region), count(*), sum(nameplate_kwh)
from ledger.deployment_units
where in_transit
group by country, site;

-- The per-unit index served the old in-transit query only. Found by what it is, not by name: a rebuild swaps in a copy of
-- the table whose indexes carry generated names.
do $$
declare
    index_name regclass;
begin
    for index_name in
        select indexrelid::regclass from pg_index
        where indrelid = 'ledger.deployment_units'::regclass and pg_get_expr(indpred, indrelid) = 'in_transit'
    loop
        execute format('drop index %s', index_name);
    end loop;
end
$$;
