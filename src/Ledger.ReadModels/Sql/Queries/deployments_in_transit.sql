-- @level: 0 groups by region, 1 by region and country, 2 by region, country and site. Reads the counts the projection
-- keeps per destination (one row each), not the units. Sorted in the "C" collation so the order does not depend on the
-- database's locale.
select region, country, site, units, nameplate_kwh
from (
    select region, case when @level >= 1 then country end as country, case when @level >= 2 then site end as site,
           sum(units)::bigint as units, sum(nameplate_kwh) as nameplate_kwh
    from ledger.deployment_in_transit
    where units > 0 and (@region::text is null or region = @region)
    group by 1, 2, 3
) in_transit
order by region collate "C", country collate "C", site collate "C";
