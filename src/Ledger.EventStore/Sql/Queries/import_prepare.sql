-- Import runs alone: appends and sealing wait until it commits, and it only loads into an empty ledger. Tombstones count:
-- their sequence numbers would collide with imported positions.
lock table ledger.mt_streams, ledger.mt_events, ledger.blocks, ledger.audit_sealer in exclusive mode;

select (select count(*) from ledger.mt_events), (select count(*) from ledger.mt_streams), (select count(*) from ledger.blocks);
