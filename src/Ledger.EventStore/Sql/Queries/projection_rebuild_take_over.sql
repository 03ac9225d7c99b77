-- A rebuild whose replay batches had started is carried on by whoever holds its lock now, under a new attempt, from its
-- shadow position: the previous holder (whose lock is gone) can no longer write.
update ledger.projection_checkpoints
set rebuild_attempt = @attempt, updated_at = now()
where name = @name
  and rebuild_requested_at is not null and status = 'running' and shadow_position is not null;
