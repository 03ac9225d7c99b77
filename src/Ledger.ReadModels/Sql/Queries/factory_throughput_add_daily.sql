-- Adds the batch's net changes per factory and local day (a cancellation is a negative change to an earlier day).
insert into {ledger.factory_throughput_daily} as d
    (factory_id, day, units_built, built_kwh, tests_passed, tests_failed, first_tests, first_tests_passed,
     units_shipped, shipped_kwh)
select * from unnest(@factory_ids::text[], @days::date[], @units_built::integer[], @built_kwhs::numeric[],
                     @tests_passed::integer[], @tests_failed::integer[], @first_tests::integer[],
                     @first_tests_passed::integer[], @units_shipped::integer[], @shipped_kwhs::numeric[])
on conflict (factory_id, day) do update
set units_built        = d.units_built + excluded.units_built,
    built_kwh          = d.built_kwh + excluded.built_kwh,
    tests_passed       = d.tests_passed + excluded.tests_passed,
    tests_failed       = d.tests_failed + excluded.tests_failed,
    first_tests        = d.first_tests + excluded.first_tests,
    first_tests_passed = d.first_tests_passed + excluded.first_tests_passed,
    units_shipped      = d.units_shipped + excluded.units_shipped,
    shipped_kwh        = d.shipped_kwh + excluded.shipped_kwh;
