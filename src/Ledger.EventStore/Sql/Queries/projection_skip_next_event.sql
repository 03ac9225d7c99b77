-- The first event after a cursor in feed order: a skip is allowed only when that is the failed event. The failed event
-- came from the feed, so it is at or below the high-water mark, and so is every position before it: nothing still
-- uncommitted can come between the cursor and it.
select event_id from ledger.events
where position > @after_position
order by position
limit 1;
