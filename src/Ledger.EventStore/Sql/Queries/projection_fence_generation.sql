-- The generation of the projection's tables a daemon batch reads (0 before any rebuild swapped), in one statement before
-- the batch's own reads: if it is the old one, the fence at the end of the batch fails it.
select coalesce((select generation from ledger.projection_checkpoints where name = @name), 0);
