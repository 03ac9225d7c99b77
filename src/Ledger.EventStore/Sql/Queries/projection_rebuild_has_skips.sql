-- Whether an operator skipped any event for this read model (then its rebuild replays in batches, which leave them out).
select exists (select 1 from ledger.projection_skips where name = @name);
