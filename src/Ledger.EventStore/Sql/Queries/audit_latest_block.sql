-- The digest: the newest block, and how many events all blocks seal.
select block_number, positions, event_hashes, merkle_root, previous_chain_hash, chain_hash, sealed_at,
       (select coalesce(sum(cardinality(positions)), 0) from ledger.blocks)::bigint as sealed_events
from ledger.blocks
order by block_number desc
limit 1;
