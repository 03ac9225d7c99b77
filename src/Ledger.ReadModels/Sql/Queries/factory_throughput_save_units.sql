-- Every unit the batch changed, in one statement. Factory and energy never change after the build.
insert into {ledger.factory_throughput_units} as u (serial, factory_id, nameplate_kwh, first_tested, shipped_on)
select * from unnest(@serials::text[], @factory_ids::text[], @nameplate_kwhs::numeric[], @first_testeds::boolean[],
                     @shipped_ons::date[])
on conflict (serial) do update
set first_tested = excluded.first_tested, shipped_on = excluded.shipped_on;
