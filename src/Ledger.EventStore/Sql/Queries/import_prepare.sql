-- Import runs alone: appends and sealing wait until it commits, and it only loads into an empty ledger.
lock table ledger.streams, ledger.events, ledger.blocks, ledger.audit_sealer in exclusive mode;

select (select count(*) from ledger.events), (select count(*) from ledger.streams), (select count(*) from ledger.blocks);
