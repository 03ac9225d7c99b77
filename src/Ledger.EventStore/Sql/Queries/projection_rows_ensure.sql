-- Every read model a node runs has its row from the start (status lists it, operator actions find it), before its first
-- batch or failure.
insert into ledger.projection_checkpoints (name)
select unnest(@names::text[])
on conflict (name) do nothing;
