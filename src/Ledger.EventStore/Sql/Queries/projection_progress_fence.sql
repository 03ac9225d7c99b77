-- Run on Marten's transaction just before it commits a daemon batch (MartenSqlProjection's transaction participant): fails
-- the batch unless Marten's progression update in it matched (0011), and fails it too (25P02) if a statement of the
-- batch already failed its transaction.
select ledger.projection_progress_fence(@shard::text)
