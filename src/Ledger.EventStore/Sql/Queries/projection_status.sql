-- Every projection's checkpoint with its lag: events after the cursor and the age of the oldest of them, both found on
-- the position index (mt_events' primary key). The lag count costs in proportion to the lag.
select c.name, c.position, c.status, c.error, c.failed_event_id, c.failed_position, c.failed_at,
       c.failed_in_rebuild, c.owner_node, c.owner_since, c.rebuild_requested_at, c.rebuild_started_at,
       c.shadow_position, c.rebuild_events_done, c.rebuild_events_total, c.rebuild_finished_at,
       c.updated_at,
       (select count(*) from ledger.events e where e.position > c.position) as lag_events,
       (select e.recorded_at from ledger.events e
        where e.position > c.position
        order by e.position limit 1) as oldest_unprocessed_at,
       now() as now
from ledger.projection_checkpoints c
where @name::text is null or c.name = @name
order by c.name;
