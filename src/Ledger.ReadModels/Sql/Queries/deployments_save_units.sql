insert into {ledger.deployment_units} as u (serial, nameplate_kwh, region, country, site, shipped_on, in_transit)
select * from unnest(@serials::text[], @nameplate_kwhs::numeric[], @regions::text[], @countries::text[], @sites::text[],
                     @shipped_ons::date[], @in_transits::boolean[])
on conflict (serial) do update
set region = excluded.region, country = excluded.country, site = excluded.site, shipped_on = excluded.shipped_on,
    in_transit = excluded.in_transit;
