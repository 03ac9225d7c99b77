-- How many events the replay still has to apply before it reaches the live cursor, counted only up to @limit on the
-- position index: when fewer than one replay batch remain, live batches pause so the replay can catch up and swap.
select count(*) from (
    select 1 from ledger.events
    where position > @shadow_position and position <= @live_position
    limit @limit
) as gap;
