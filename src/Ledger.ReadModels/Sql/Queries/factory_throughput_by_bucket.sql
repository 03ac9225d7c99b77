-- One row per bucket that overlaps [@from, @to], empty buckets included (a ramp chart needs its zeros). A bucket counts
-- only its days inside the range; its "last day" is the last of those, and cumulative and trailing-30-day figures are
-- as of that day.
with days as (
    select g::date as day from generate_series(@from::date, @to::date, interval '1 day') as g
), buckets as (
    select date_trunc(@bucket::text, day::timestamp)::date as bucket_start, min(day) as first_day, max(day) as last_day
    from days
    group by 1
)
select b.bucket_start, b.first_day, b.last_day,
       t.units_built, t.built_kwh, t.tests_passed, t.tests_failed, t.first_tests, t.first_tests_passed,
       t.units_shipped, t.shipped_kwh, c.cumulative_units_built, r.units_built_trailing_30_days
from buckets b
cross join lateral (
    select coalesce(sum(units_built), 0)::bigint as units_built, coalesce(sum(built_kwh), 0) as built_kwh,
           coalesce(sum(tests_passed), 0)::bigint as tests_passed, coalesce(sum(tests_failed), 0)::bigint as tests_failed,
           coalesce(sum(first_tests), 0)::bigint as first_tests,
           coalesce(sum(first_tests_passed), 0)::bigint as first_tests_passed,
           coalesce(sum(units_shipped), 0)::bigint as units_shipped, coalesce(sum(shipped_kwh), 0) as shipped_kwh
    from ledger.factory_throughput_daily
    where factory_id = @factory_id and day between b.first_day and b.last_day
) t
cross join lateral (
    select coalesce(sum(units_built), 0)::bigint as cumulative_units_built
    from ledger.factory_throughput_daily
    where factory_id = @factory_id and day <= b.last_day
) c
cross join lateral (
    select coalesce(sum(units_built), 0)::bigint as units_built_trailing_30_days
    from ledger.factory_throughput_daily
    where factory_id = @factory_id and day between b.last_day - 29 and b.last_day
) r
order by b.bucket_start;
