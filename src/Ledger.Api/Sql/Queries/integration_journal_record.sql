-- One row per message id: a redelivery only counts itself (the first body stays).
insert into ledger.integration_events (message_id, type, body)
values (@message_id, @type, @body)
on conflict (message_id) do update set deliveries = ledger.integration_events.deliveries + 1;
