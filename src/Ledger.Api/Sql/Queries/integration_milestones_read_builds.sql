-- The batch's builds as the ledger stored them (the sender's occurredAt, the recorded time, the serial), in feed order,
-- and whether the subscription counted each already: a range handed to it again counts nothing twice.
select e.position, e.event_id, e.stream_id, e.data ->> 'factoryId', e.occurred_at, e.recorded_at,
       exists (select 1 from ledger.integration_milestone_builds b where b.position = e.position) as counted
from ledger.events e
where e.position = any(@positions::bigint[])
order by e.position;
