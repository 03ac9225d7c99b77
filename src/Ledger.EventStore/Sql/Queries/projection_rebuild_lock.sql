-- Before a write of a rebuild: locks the checkpoint row and checks the attempt is still the current one. No row: the
-- rebuild was taken over, finished, or the projection failed; the write must not land.
select shadow_position from ledger.projection_checkpoints
where name = @name and rebuild_attempt = @attempt and rebuild_requested_at is not null and status = 'running'
for update;
