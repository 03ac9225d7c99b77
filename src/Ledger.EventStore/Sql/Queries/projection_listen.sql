-- The feed moved (sent whenever Marten's high-water mark advances, by the trigger of migration 0006) and operator actions
-- on one projection (payload: its name).
listen ledger_events;
listen ledger_projections;
