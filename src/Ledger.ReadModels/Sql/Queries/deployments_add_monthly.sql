-- Adds the batch's net changes per UTC month and destination: the batch's daily changes summed by month.
insert into {ledger.deployment_monthly} as m
    (month, region, country, site, units_shipped, shipped_kwh, units_delivered, delivered_kwh, units_commissioned,
     commissioned_kwh)
select * from unnest(@months::date[], @regions::text[], @countries::text[], @sites::text[], @units_shipped::integer[],
                     @shipped_kwhs::numeric[], @units_delivered::integer[], @delivered_kwhs::numeric[],
                     @units_commissioned::integer[], @commissioned_kwhs::numeric[])
on conflict (month, country, site) do update
set units_shipped      = m.units_shipped + excluded.units_shipped,
    shipped_kwh        = m.shipped_kwh + excluded.shipped_kwh,
    units_delivered    = m.units_delivered + excluded.units_delivered,
    delivered_kwh      = m.delivered_kwh + excluded.delivered_kwh,
    units_commissioned = m.units_commissioned + excluded.units_commissioned,
    commissioned_kwh   = m.commissioned_kwh + excluded.commissioned_kwh;
