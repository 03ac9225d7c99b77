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

-- The per-unit index served the old in-transit query only.
drop index ledger.deployment_units_in_transit;
