-- Moves the live cursor only from where this batch started: 0 rows means someone else moved it, and the batch rolls back.
update ledger.projection_checkpoints
set position = @new_position, updated_at = now()
where name = @name
  and position = @old_position
  and status = 'running';
