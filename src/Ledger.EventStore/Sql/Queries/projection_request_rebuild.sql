-- Records a rebuild request; ProjectionRebuild, on the node that gets the projection's rebuild lock, runs it. A rebuild
-- already requested or running is left alone.
update ledger.projection_checkpoints
set rebuild_requested_at = now(), updated_at = now()
where name = @name and rebuild_requested_at is null;
