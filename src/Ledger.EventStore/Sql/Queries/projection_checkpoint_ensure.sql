-- Every projection the daemon runs has a checkpoint row; a new one starts at the beginning of the feed.
insert into ledger.projection_checkpoints (name) values (@name)
on conflict (name) do nothing;
