drop table if exists ledger.unit_status__rebuild;
create table ledger.unit_status__rebuild (like ledger.unit_status including all);
