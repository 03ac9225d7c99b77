-- Every read model's row with its position and lag. The position is Marten's: the progression of the shard <name>:All
-- (0 before its first batch). The lag counts the events after it and the age of the oldest, both found on the position
-- index (mt_events' primary key); the count costs in proportion to the lag.
select c.name, coalesce(p.last_seq_id, 0) as position, c.status, c.error, c.failed_event_id, c.failed_position, c.failed_at,
       c.failed_in_rebuild, c.owner_node, c.owner_since, c.rebuild_requested_at, c.rebuild_started_at,
       c.shadow_position, c.rebuild_events_done, c.rebuild_events_total, c.rebuild_finished_at,
       c.updated_at,
       (select count(*) from ledger.events e where e.position > coalesce(p.last_seq_id, 0)) as lag_events,
       (select e.recorded_at from ledger.events e
        where e.position > coalesce(p.last_seq_id, 0)
        order by e.position limit 1) as oldest_unprocessed_at,
       now() as now
from ledger.projection_checkpoints c
left join ledger.mt_event_progression p on p.name = c.name || ':All'
where @name::text is null or c.name = @name
order by c.name;
