-- One row per bucket that overlaps [@from, @to], empty buckets included (a ramp chart needs its zeros). A bucket counts
-- only its days inside the range; its "last day" is the last of those, and cumulative and trailing-30-day figures are
-- as of that day.
-- One pass over the range's days (and the 29 before it, for the first trailing window): running sums give every day's
-- cumulative and trailing-30-day builds, and each bucket takes them from its last day. Only the cumulative count before
-- the range needs the earlier history, once, as one sum over the primary key.
-- The bucket's sums are window sums over the bucket and its row is the one of its last day, rather than a GROUP BY that
-- picked the last day's figures with (array_agg(… order by day desc))[1], which set up two sorts per bucket: a year by
-- day (365 one-day buckets) took 2.6 ms of PostgreSQL CPU a call that way, 2.0 ms this way (issue 15; benchmarks.md).
with before_range as (
    select coalesce(sum(units_built), 0)::bigint as units_built
    from ledger.factory_throughput_daily
    where factory_id = @factory_id and day < @from::date - 29
), days as (
    select d.day::date as day, t.units_built, t.built_kwh, t.tests_passed, t.tests_failed, t.first_tests,
           t.first_tests_passed, t.units_shipped, t.shipped_kwh,
           (select units_built from before_range)
               + sum(coalesce(t.units_built, 0)) over (order by d.day rows between unbounded preceding and current row)
               as cumulative_units_built,
           sum(coalesce(t.units_built, 0)) over (order by d.day rows between 29 preceding and current row)
               as units_built_trailing_30_days
    from generate_series(@from::date - 29, @to::date, interval '1 day') as d(day)
    left join ledger.factory_throughput_daily t
           on t.factory_id = @factory_id and t.day = d.day::date and t.day between @from::date - 29 and @to::date
), buckets as (
    select day, date_trunc(@bucket::text, day::timestamp)::date as bucket_start, cumulative_units_built,
           units_built_trailing_30_days,
           min(day) over b as first_day, max(day) over b as last_day,
           coalesce(sum(units_built) over b, 0)::bigint as units_built, coalesce(sum(built_kwh) over b, 0) as built_kwh,
           coalesce(sum(tests_passed) over b, 0)::bigint as tests_passed,
           coalesce(sum(tests_failed) over b, 0)::bigint as tests_failed,
           coalesce(sum(first_tests) over b, 0)::bigint as first_tests,
           coalesce(sum(first_tests_passed) over b, 0)::bigint as first_tests_passed,
           coalesce(sum(units_shipped) over b, 0)::bigint as units_shipped,
           coalesce(sum(shipped_kwh) over b, 0) as shipped_kwh
    from days
    where day >= @from::date
    window b as (partition by date_trunc(@bucket::text, day::timestamp)::date)
)
select bucket_start, first_day, last_day, units_built, built_kwh, tests_passed, tests_failed, first_tests,
       first_tests_passed, units_shipped, shipped_kwh, cumulative_units_built::bigint,
       units_built_trailing_30_days::bigint
from buckets
where day = last_day
order by bucket_start;
