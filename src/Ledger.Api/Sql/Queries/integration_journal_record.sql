-- Received messages in the order given: one row per message id. A message id seen before, or twice here (a redelivery
-- beside the original), only counts its deliveries; the first body stays. New rows are inserted in the order given, so
-- the identity (seq: the journal's order) follows it.
insert into ledger.integration_events (message_id, type, body, deliveries)
select m.message_id, min(m.type), (array_agg(m.body order by m.ord))[1], count(*)
from unnest(@message_ids::uuid[], @types::text[], @bodies::jsonb[]) with ordinality as m(message_id, type, body, ord)
group by m.message_id
order by min(m.ord)
on conflict (message_id) do update set deliveries = ledger.integration_events.deliveries + excluded.deliveries;
