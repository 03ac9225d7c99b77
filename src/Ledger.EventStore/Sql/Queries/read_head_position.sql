-- The highest position stored (0 when there are no events): the primary key answers it from its last leaf. Marten's
-- tombstones are not events, hence the view.
select coalesce(max(position), 0) from ledger.events;
