-- The ledger's own projection daemon is gone (issue 12, decision 0006 step 6): Marten's async daemon runs the
-- asynchronous read models, and a read model's position is its shard's row in ledger.mt_event_progression
-- (`<name>:All`). ledger.projection_checkpoints keeps, per read model, what Marten has no place for: failure, owner,
-- rebuild progress and the rebuild fence's generation (docs/projections.md).
--
-- A ledger whose read models the own daemon already kept (the release before this one) hands their positions to
-- Marten, so the daemon carries on where the own daemon stopped instead of applying every event again into tables that
-- already hold it. A position is carried over only where Marten has none yet.
insert into ledger.mt_event_progression (name, last_seq_id, last_updated)
select c.name || ':All', c.position, now()
from ledger.projection_checkpoints c
where c.position > 0
on conflict (name) do nothing;

-- A rebuild the own daemon had under way cannot be carried on (its shadow tables were the own daemon's): it is asked
-- for again, and the next rebuild starts from scratch.
update ledger.projection_checkpoints
set shadow_position = null, rebuild_started_at = null, rebuild_events_done = null, rebuild_events_total = null
where rebuild_started_at is not null;

alter table ledger.projection_checkpoints drop column position;
drop table ledger.projection_nodes;

comment on table ledger.projection_checkpoints is
    'One row per asynchronous read model: state and failure, owner, rebuild progress and generation. Its position is '
    'Marten''s, in ledger.mt_event_progression.';
