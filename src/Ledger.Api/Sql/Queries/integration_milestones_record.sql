-- The milestones the batch announces. A plain insert: a milestone already recorded fails the batch (23505) and its message
-- with it, so none is ever published twice.
insert into ledger.integration_milestones (factory_id, milestone, message_id, serial, unit_occurred_at, reached_event_id,
                                           reached_position, reached_recorded_at, published_at)
select f, m, id, s, o, e, p, r, now()
from unnest(@factory_ids::text[], @milestones::bigint[], @message_ids::uuid[], @serials::text[], @occurred_ats::timestamptz[],
            @event_ids::uuid[], @positions::bigint[], @recorded_ats::timestamptz[]) as n(f, m, id, s, o, e, p, r);
