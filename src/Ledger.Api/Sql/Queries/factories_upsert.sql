-- Returns whether the row is new (xmax = 0 on a freshly inserted row).
insert into ledger.factories
    (id, name, location, country, time_zone, status, nameplate_units_per_year, construction_started, production_started)
values (@id, @name, @location, @country, @time_zone, @status, @nameplate_units_per_year, @construction_started, @production_started)
on conflict (id) do update
    set name = excluded.name, location = excluded.location, country = excluded.country, time_zone = excluded.time_zone,
        status = excluded.status, nameplate_units_per_year = excluded.nameplate_units_per_year,
        construction_started = excluded.construction_started, production_started = excluded.production_started,
        updated_at = now()
returning (xmax = 0) as created;
