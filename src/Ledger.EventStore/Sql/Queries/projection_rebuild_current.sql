-- The shadow position of the current attempt (no row: the rebuild was taken over, finished, or the projection failed).
select shadow_position from ledger.projection_checkpoints
where name = @name and rebuild_attempt = @attempt and rebuild_requested_at is not null and status = 'running';
