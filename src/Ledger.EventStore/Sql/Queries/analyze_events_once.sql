-- Planner statistics for mt_events once it holds events (migration 0012); true once they exist.
select ledger.analyze_events_once(@min_rows);
