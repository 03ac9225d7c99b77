-- Saves the batch's changed units and moves the in-transit counts by the difference: every statement of a WITH sees the
-- same snapshot, so "before" is each unit as the previous batch left it and "after" as this batch leaves it. A destination
-- left with nothing in transit loses its row after this (deployments_drop_empty_in_transit.sql), so the table does not
-- depend on where batches end. One statement: Marten's daemon queues one statement per command.
with after as (
    select * from unnest(@serials::text[], @nameplate_kwhs::numeric[], @regions::text[], @countries::text[], @sites::text[],
                         @shipped_ons::date[], @in_transits::boolean[])
        as a(serial, nameplate_kwh, region, country, site, shipped_on, in_transit)
),
before as (
    select * from {ledger.deployment_units} where serial = any(@serials::text[])
),
saved as (
    insert into {ledger.deployment_units} as u (serial, nameplate_kwh, region, country, site, shipped_on, in_transit)
    select * from after
    on conflict (serial) do update
    set region = excluded.region, country = excluded.country, site = excluded.site, shipped_on = excluded.shipped_on,
        in_transit = excluded.in_transit
),
moves as (
    select country, site, min(region) as region, sum(units)::integer as units, sum(nameplate_kwh) as nameplate_kwh
    from (
        select country, site, region, -1 as units, -nameplate_kwh as nameplate_kwh from before where in_transit
        union all
        select country, site, region, 1, nameplate_kwh from after where in_transit
    ) m
    group by country, site
)
insert into {ledger.deployment_in_transit} as t (country, site, region, units, nameplate_kwh)
select country, site, region, units, nameplate_kwh from moves
where units <> 0 or nameplate_kwh <> 0
on conflict (country, site) do update
set units = t.units + excluded.units, nameplate_kwh = t.nameplate_kwh + excluded.nameplate_kwh;
