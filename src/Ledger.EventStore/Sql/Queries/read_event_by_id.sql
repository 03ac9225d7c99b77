-- One event and the hash it chains onto (the previous event of its stream), for inclusion proofs.
select e.position, e.event_id, e.stream_id, e.stream_version, e.type, e.data::text, e.metadata::text,
       e.occurred_at, e.recorded_at, e.hash,
       (select p.hash from ledger.events p where p.stream_id = e.stream_id and p.stream_version = e.stream_version - 1)
from ledger.events e
where e.event_id = @event_id;
