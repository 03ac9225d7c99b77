-- The shadow tables are now the live ones: the live cursor becomes the shadow cursor and the rebuild is over.
update ledger.projection_checkpoints
set transaction_id = shadow_transaction_id, position = shadow_position,
    rebuild_requested_at = null, rebuild_started_at = null, shadow_transaction_id = null, shadow_position = null,
    rebuild_finished_at = now(), updated_at = now()
where name = @name
  and shadow_transaction_id = @shadow_transaction_id::xid8 and shadow_position = @shadow_position
  and transaction_id = @live_transaction_id::xid8 and position = @live_position
  and status = 'running';
