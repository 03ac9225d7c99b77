alter table ledger.unit_status rename to unit_status__old;
alter table ledger.unit_status__rebuild rename to unit_status;
drop table ledger.unit_status__old;
