-- Before a bulk replay builds its shadow tables' indexes: the attempt must still be the current one. A share lock on the
-- checkpoint row, held to the commit: live batches' fences (share locks too) do not wait for the index builds, while a
-- take-over or a new attempt (updates of the row) waits for them and then drops these tables anyway.
select 1 from ledger.projection_checkpoints
where name = @name and rebuild_attempt = @attempt and shadow_position is null
  and rebuild_requested_at is not null and status = 'running'
for share;
