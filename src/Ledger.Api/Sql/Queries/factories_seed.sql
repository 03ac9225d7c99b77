insert into ledger.factories
    (id, name, location, country, time_zone, status, nameplate_units_per_year, construction_started, production_started)
values (@id, @name, @location, @country, @time_zone, @status, @nameplate_units_per_year, @construction_started, @production_started)
on conflict (id) do nothing;
