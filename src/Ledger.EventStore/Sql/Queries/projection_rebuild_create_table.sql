-- A fresh, empty copy of a live table (columns, defaults, constraints, indexes) for the rebuild to replay into.
drop table if exists {shadow};
create table {shadow} (like {live} including all);
