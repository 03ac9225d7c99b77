-- Blue/green swap of one table, inside the transaction that also moves the live cursor to the shadow cursor.
alter table {live} rename to {old_name};
alter table {shadow} rename to {live_name};
drop table {old};
