-- How many events a bulk replay stands for, in the shared scan's snapshot: every event in (@after, @up_to]. Counted once
-- up to the highest horizon of the scan; a read model with a lower horizon subtracts the few events above its own.
select count(*) from ledger.events where position > @after and position <= @up_to;
