-- New events (sent by every append at commit) and operator actions on one projection (payload: its name).
listen ledger_events;
listen ledger_projections;
