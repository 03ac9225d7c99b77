-- A fill's horizon: the store's high-water mark, read in the shared scan's snapshot for the bulk replay and under the
-- progression row's lock by the swap (projection_fill_state.sql says why it is a fixed set).
select coalesce((select last_seq_id from ledger.mt_event_progression where name = 'HighWaterMark'), 0);
