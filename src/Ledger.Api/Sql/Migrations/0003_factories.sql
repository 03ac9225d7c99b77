-- The factory registry. Seeded at start-up from the domain's reference data (only rows that are missing, so an
-- operator's later changes stay), maintained by admins through POST /api/v1/factories.
create table if not exists ledger.factories (
    id                       text        primary key,
    name                     text        not null,
    location                 text        not null,
    country                  text        not null,
    time_zone                text        not null,
    status                   text        not null check (status in ('planned', 'under-construction', 'producing', 'closed')),
    nameplate_units_per_year integer     check (nameplate_units_per_year > 0),
    construction_started     date,
    production_started       date,
    updated_at               timestamptz not null default now()
);
