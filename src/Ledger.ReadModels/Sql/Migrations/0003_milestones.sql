-- Milestones (async projection "milestones"). Rebuildable from the feed alone.

-- Every build, so the nth unit can be re-ranked by (occurred_at, position) when history is recorded late.
create table ledger.milestone_builds (
    serial      text        primary key,
    factory_id  text        not null,
    occurred_at timestamptz not null,
    position    bigint      not null,
    local_date  date        not null
);
create index milestone_builds_rank on ledger.milestone_builds (factory_id, occurred_at, position);

-- The 1st and every 1,000th unit of each factory, recomputed from milestone_builds for the factories a batch touches.
create table ledger.milestone_units (
    factory_id  text        not null,
    nth         bigint      not null,
    serial      text        not null,
    occurred_at timestamptz not null,
    local_date  date        not null,
    primary key (factory_id, nth)
);

-- Every shipment (one row per UnitShipped, keyed by its feed position); a cancelled one no longer counts as a first
-- shipment to its region.
create table ledger.milestone_shipments (
    position    bigint      primary key,
    serial      text        not null,
    factory_id  text        not null,
    region      text        not null,
    country     text        not null,
    occurred_at timestamptz not null,
    local_date  date        not null,
    cancelled   boolean     not null
);
create index milestone_shipments_first on ledger.milestone_shipments (factory_id, region, occurred_at, position)
    where not cancelled;
create index milestone_shipments_serial on ledger.milestone_shipments (serial) where not cancelled;
