-- Records a rebuild request; the owner's daemon starts it. A rebuild already requested or running is left alone.
update ledger.projection_checkpoints
set rebuild_requested_at = now(), updated_at = now()
where name = @name and rebuild_requested_at is null;
