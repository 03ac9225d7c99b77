-- The cursor of the event at a position (as an append returned it), if there is one: the feed's cursor is the position.
select position from ledger.events where position = @position;
