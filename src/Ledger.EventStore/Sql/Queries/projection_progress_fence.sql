-- Queued last into a daemon batch: fails the batch unless Marten's progression update in it matched (0011).
select ledger.projection_progress_fence(@shard::text)
