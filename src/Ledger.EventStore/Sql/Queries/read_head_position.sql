-- The highest global position stored (0 when there are no events): the pk index answers it from its last leaf.
select coalesce(max(position), 0) from ledger.events;
