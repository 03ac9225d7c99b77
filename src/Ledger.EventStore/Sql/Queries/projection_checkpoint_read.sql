-- The loop's view of a projection, read at the start of each batch transaction (before anything is written).
select position, status, rebuild_requested_at, rebuild_started_at, shadow_position
from ledger.projection_checkpoints
where name = @name;
