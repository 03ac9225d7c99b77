-- The node is alive; answers how many nodes are. A node counts while its heartbeat is recent and its session still holds
-- its node lock: a node whose session died drops out at once instead of after the timeout, so its share is taken over
-- within one ownership interval.
insert into ledger.projection_nodes (node_id) values (@node_id)
on conflict (node_id) do update set heartbeat_at = now();
select count(*)
from ledger.projection_nodes n
where n.node_id = @node_id
   or (n.heartbeat_at > now() - @node_timeout::interval
       and exists (select 1 from pg_locks l
                   where l.locktype = 'advisory' and l.granted and l.objsubid = 2
                     and l.database = (select oid from pg_database where datname = current_database())
                     and l.classid = @node_namespace::int4::oid
                     and l.objid = hashtext(n.node_id)::oid));
