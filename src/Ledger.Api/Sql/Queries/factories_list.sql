select id, name, location, country, time_zone, status, nameplate_units_per_year, construction_started, production_started
from ledger.factories
order by id;
