-- @level: 0 groups by region, 1 by region and country, 2 by region, country and site. Groups whose figures all net to
-- zero (shipped and cancelled within the range) are left out. Only days inside [@from, @to] count. Sorted in the "C"
-- collation so the order does not depend on the database's locale.
select bucket_start, region, country, site, units_shipped, shipped_kwh, units_delivered, delivered_kwh,
       units_commissioned, commissioned_kwh
from (
    select date_trunc(@bucket::text, day::timestamp)::date as bucket_start, region,
           case when @level >= 1 then country end as country,
           case when @level >= 2 then site end as site,
           sum(units_shipped)::bigint as units_shipped, sum(shipped_kwh) as shipped_kwh,
           sum(units_delivered)::bigint as units_delivered, sum(delivered_kwh) as delivered_kwh,
           sum(units_commissioned)::bigint as units_commissioned, sum(commissioned_kwh) as commissioned_kwh
    from ledger.deployment_daily
    where day between @from::date and @to::date and (@region::text is null or region = @region)
    group by 1, 2, 3, 4
    having sum(units_shipped) <> 0 or sum(units_delivered) <> 0 or sum(units_commissioned) <> 0
) deployments
order by bucket_start, region collate "C", country collate "C", site collate "C";
