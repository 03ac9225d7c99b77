-- How many events the replay still has to apply before it reaches the live cursor, counted only up to @limit on the feed
-- index: when fewer than one replay batch remain, live batches pause so the replay can catch up and swap.
select count(*) from (
    select 1 from ledger.events
    where (transaction_id, position) > (@shadow_transaction_id::xid8, @shadow_position)
      and (transaction_id, position) <= (@live_transaction_id::xid8, @live_position)
    limit @limit
) as gap;
