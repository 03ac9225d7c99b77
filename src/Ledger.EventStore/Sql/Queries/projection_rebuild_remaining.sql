-- How many events the shadow tables still lack to reach the live progression, counted only up to @limit on the
-- position index: the swap holds the live tables locked while it applies them, so it waits until they are few.
select count(*) from (
    select 1 from ledger.events
    where position > @shadow_position and position <= @live_position
    limit @limit
) as gap;
