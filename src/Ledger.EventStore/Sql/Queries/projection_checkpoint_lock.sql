-- Locks the checkpoint row before the projection writes anything, so a stale owner that is still finishing a batch makes
-- this one wait and then see the moved cursor, instead of both applying the same events.
select position, status, rebuild_requested_at, shadow_position
from ledger.projection_checkpoints
where name = @name
for update;
