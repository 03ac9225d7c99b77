insert into {ledger.milestone_builds} (serial, factory_id, occurred_at, position, local_date)
select * from unnest(@serials::text[], @factory_ids::text[], @occurred_ats::timestamptz[], @positions::bigint[],
                     @local_dates::date[]);
