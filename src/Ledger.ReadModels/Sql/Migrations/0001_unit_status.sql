-- UnitStatus: one row per unit, updated inline in the same transaction as the unit's events, so it is never behind.
create table if not exists ledger.unit_status (
    serial               text        primary key,
    factory_id           text,
    line                 text,
    model                text,
    nameplate_kwh        numeric,
    state                text        not null,
    latest_test_result   text,
    latest_test_station  text,
    latest_measured_kwh  numeric,
    latest_round_trip_efficiency numeric,
    latest_failure_code  text,
    shipment_id          text,
    carrier              text,
    destination_country  text,
    destination_region   text,
    destination_site     text,
    site                 text,
    built_at             timestamptz,
    tested_at            timestamptz,
    reworked_at          timestamptz,
    shipped_at           timestamptz,
    delivered_at         timestamptz,
    commissioned_at      timestamptz,
    scrapped_at          timestamptz,
    last_occurred_at     timestamptz,
    version              bigint      not null,
    position             bigint      not null
);

-- Keyset pagination is by serial within each filter.
create index if not exists unit_status_factory_idx on ledger.unit_status (factory_id, serial);
create index if not exists unit_status_state_idx on ledger.unit_status (state, serial);
create index if not exists unit_status_region_idx on ledger.unit_status (destination_region, serial);
create index if not exists unit_status_country_idx on ledger.unit_status (destination_country, serial);
