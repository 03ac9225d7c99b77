-- The audit sealer follows the feed, which since 0006 is in position order (Marten's seq_id) up to Marten's high-water
-- mark: where it stopped is a position alone. The transaction id it also kept was the own store's feed order
-- (transaction id, position), which no longer exists. Blocks are unchanged: an imported block keeps its positions and
-- hashes, so a digest taken before the upgrade still verifies (docs/auditing.md, "Upgrading from the own store").
alter table ledger.audit_sealer drop column if exists sealed_through_transaction_id;
