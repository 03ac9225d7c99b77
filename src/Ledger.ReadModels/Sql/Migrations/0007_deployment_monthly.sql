-- The deployments' figures per UTC month and destination: the same figures as deployment_daily summed by month, kept by
-- the deployments projection in the same batch as the daily rows (and written by its bulk replay in a rebuild), so a
-- question over whole months reads a row per month and destination instead of one per day (issue 15: a year by quarter
-- aggregated some 6,000 daily rows per request, 4 ms of PostgreSQL CPU on the demo ledger). The days of a partial month
-- at either end of a range are still read from deployment_daily.
create table ledger.deployment_monthly (
    month                date    not null,
    region               text    not null,
    country              text    not null,
    site                 text    not null,
    units_shipped        integer not null,
    shipped_kwh          numeric not null,
    units_delivered      integer not null,
    delivered_kwh        numeric not null,
    units_commissioned   integer not null,
    commissioned_kwh     numeric not null,
    primary key (month, country, site)
);

-- A ledger upgraded with its deployments already projected: the months of what the daily rows hold.
insert into ledger.deployment_monthly (month, region, country, site, units_shipped, shipped_kwh, units_delivered,
                                       delivered_kwh, units_commissioned, commissioned_kwh)
select date_trunc('month', day)::date, min(region), country, site, sum(units_shipped), sum(shipped_kwh),
       sum(units_delivered), sum(delivered_kwh), sum(units_commissioned), sum(commissioned_kwh)
from ledger.deployment_daily
group by 1, 3, 4;
