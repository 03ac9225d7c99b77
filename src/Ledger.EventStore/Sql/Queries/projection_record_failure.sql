-- Stops the read model at the event it threw on, unless it is already stopped (another node recorded the same failure,
-- which it found the same way).
insert into ledger.projection_checkpoints as c
    (name, status, error, failed_event_id, failed_position, failed_at, failed_in_rebuild, updated_at)
values (@name, 'failed', @error, @event_id, @failed_position, now(), false, now())
on conflict (name) do update
set status = 'failed', error = excluded.error, failed_event_id = excluded.failed_event_id,
    failed_position = excluded.failed_position, failed_at = now(), failed_in_rebuild = false, updated_at = now()
where c.status = 'running';
