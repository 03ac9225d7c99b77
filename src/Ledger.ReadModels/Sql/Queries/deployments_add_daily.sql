-- Adds the batch's net changes per UTC day and destination (a cancellation is a negative change to the shipping day).
insert into {ledger.deployment_daily} as d
    (day, region, country, site, units_shipped, shipped_kwh, units_delivered, delivered_kwh, units_commissioned,
     commissioned_kwh)
select * from unnest(@days::date[], @regions::text[], @countries::text[], @sites::text[], @units_shipped::integer[],
                     @shipped_kwhs::numeric[], @units_delivered::integer[], @delivered_kwhs::numeric[],
                     @units_commissioned::integer[], @commissioned_kwhs::numeric[])
on conflict (day, country, site) do update
set units_shipped      = d.units_shipped + excluded.units_shipped,
    shipped_kwh        = d.shipped_kwh + excluded.shipped_kwh,
    units_delivered    = d.units_delivered + excluded.units_delivered,
    delivered_kwh      = d.delivered_kwh + excluded.delivered_kwh,
    units_commissioned = d.units_commissioned + excluded.units_commissioned,
    commissioned_kwh   = d.commissioned_kwh + excluded.commissioned_kwh;
