-- Queued into Marten's batch with each batch MartenSqlProjection applies, so it commits with the move of the progression:
-- the node that applied the read model's last batch. The row changes only when the owner does.
insert into ledger.projection_checkpoints as c (name, owner_node, owner_since)
values (@name, @node_id, now())
on conflict (name) do update set owner_node = excluded.owner_node, owner_since = now(), updated_at = now()
where c.owner_node is distinct from excluded.owner_node;
