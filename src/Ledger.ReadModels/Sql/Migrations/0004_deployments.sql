-- Deployments (async projection "deployments"). Rebuildable from the feed alone. Days are UTC dates: a destination has
-- no factory calendar, and a site's time zone is not recorded.

-- Each unit's energy and its current shipment: delivery and commissioning are attributed to the shipment's destination,
-- and a cancellation takes the unit out of "shipped" on the day it was shipped.
create table ledger.deployment_units (
    serial        text    primary key,
    nameplate_kwh numeric not null,
    region        text,
    country       text,
    site          text,
    shipped_on    date,
    in_transit    boolean not null
);
create index deployment_units_in_transit on ledger.deployment_units (region, country, site) where in_transit;

-- One row per UTC day and destination (country, site as written on the shipment). Region follows from the country.
create table ledger.deployment_daily (
    day                  date    not null,
    region               text    not null,
    country              text    not null,
    site                 text    not null,
    units_shipped        integer not null,
    shipped_kwh          numeric not null,
    units_delivered      integer not null,
    delivered_kwh        numeric not null,
    units_commissioned   integer not null,
    commissioned_kwh     numeric not null,
    primary key (day, country, site)
);
