-- @level: 0 groups by region, 1 by region and country, 2 by region, country and site. Groups whose figures all net to
-- zero (shipped and cancelled within the range) are left out. Only days inside [@from, @to] count. Sorted in the "C"
-- collation so the order does not depend on the database's locale.
-- Buckets are whole months (month, quarter, year), so every whole month inside the range is read from the monthly
-- roll-up (a row per month and destination), and only the days of a partial month at either end from the daily rows:
-- whole months start at the first month boundary on or after @from and end before the first boundary after @to.
with bounds as (
    select (date_trunc('month', @from::date - 1) + interval '1 month')::date as whole_from,
           date_trunc('month', @to::date + 1)::date as whole_until
), figures as (
    select m.month as day, m.region, m.country, m.site, m.units_shipped, m.shipped_kwh, m.units_delivered,
           m.delivered_kwh, m.units_commissioned, m.commissioned_kwh
    from ledger.deployment_monthly m, bounds b
    where m.month >= b.whole_from and m.month < b.whole_until and (@region::text is null or m.region = @region)
    union all
    select d.day, d.region, d.country, d.site, d.units_shipped, d.shipped_kwh, d.units_delivered, d.delivered_kwh,
           d.units_commissioned, d.commissioned_kwh
    from ledger.deployment_daily d, bounds b
    where ((d.day >= @from::date and d.day < b.whole_from) or (d.day >= b.whole_until and d.day <= @to::date))
      and d.day between @from::date and @to::date
      and (@region::text is null or d.region = @region)
)
select bucket_start, region, country, site, units_shipped, shipped_kwh, units_delivered, delivered_kwh,
       units_commissioned, commissioned_kwh
from (
    select date_trunc(@bucket::text, day::timestamp)::date as bucket_start, region,
           case when @level >= 1 then country end as country,
           case when @level >= 2 then site end as site,
           sum(units_shipped)::bigint as units_shipped, sum(shipped_kwh) as shipped_kwh,
           sum(units_delivered)::bigint as units_delivered, sum(delivered_kwh) as delivered_kwh,
           sum(units_commissioned)::bigint as units_commissioned, sum(commissioned_kwh) as commissioned_kwh
    from figures
    group by 1, 2, 3, 4
    having sum(units_shipped) <> 0 or sum(units_delivered) <> 0 or sum(units_commissioned) <> 0
) deployments
order by bucket_start, region collate "C", country collate "C", site collate "C";
