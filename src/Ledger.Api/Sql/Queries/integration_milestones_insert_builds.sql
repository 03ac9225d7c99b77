-- The batch's newly counted builds (queued into the subscription's batch: they commit with its progression).
insert into ledger.integration_milestone_builds (position, factory_id, occurred_at, serial)
select * from unnest(@positions::bigint[], @factory_ids::text[], @occurred_ats::timestamptz[], @serials::text[]);
