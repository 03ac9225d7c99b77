-- New shipments and cancellations of stored ones in one statement. A row for a stored shipment carries only its
-- position and cancelled = true; the other columns are null and unused.
merge into {ledger.milestone_shipments} as s
using unnest(@positions::bigint[], @serials::text[], @factory_ids::text[], @regions::text[], @countries::text[],
             @occurred_ats::timestamptz[], @local_dates::date[], @cancelleds::boolean[])
      as u(position, serial, factory_id, region, country, occurred_at, local_date, cancelled)
on s.position = u.position
when matched then update set cancelled = u.cancelled
when not matched then insert (position, serial, factory_id, region, country, occurred_at, local_date, cancelled)
    values (u.position, u.serial, u.factory_id, u.region, u.country, u.occurred_at, u.local_date, u.cancelled);
