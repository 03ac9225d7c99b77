-- Queued last into a daemon batch, after its writes: fails the batch if a rebuild swapped tables in since it read.
select ledger.projection_fence(@name::text, @generation::bigint)
