-- FactoryThroughput (async projection "factory-throughput"). Rebuildable: everything it needs to apply the next event is
-- in these two tables, so a rebuild into shadow copies starts from nothing but the feed.

-- What the projection must remember about each unit to place later events: its factory (tests and shipments do not
-- carry it), its energy, whether it has had its first test (first-pass yield), and the local day of its current
-- shipment (a cancellation takes the unit out of "shipped" on that day).
create table ledger.factory_throughput_units (
    serial        text    primary key,
    factory_id    text    not null,
    nameplate_kwh numeric not null,
    first_tested  boolean not null,
    shipped_on    date
);

-- One row per factory and local day (the factory's own calendar, not UTC).
create table ledger.factory_throughput_daily (
    factory_id          text    not null,
    day                 date    not null,
    units_built         integer not null,
    built_kwh           numeric not null,
    tests_passed        integer not null,
    tests_failed        integer not null,
    first_tests         integer not null,
    first_tests_passed  integer not null,
    units_shipped       integer not null,
    shipped_kwh         numeric not null,
    primary key (factory_id, day)
);
