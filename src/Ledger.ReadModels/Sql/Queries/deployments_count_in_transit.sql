-- Bulk replay of a rebuild only: the in-transit counts per destination from the units just copied in (the live path
-- moves them batch by batch in deployments_save_units.sql; the upgrade to 0005 counted them the same way).
insert into {ledger.deployment_in_transit} (country, site, region, units, nameplate_kwh)
select country, site, min(region), count(*), sum(nameplate_kwh)
from {ledger.deployment_units}
where in_transit
group by country, site;
