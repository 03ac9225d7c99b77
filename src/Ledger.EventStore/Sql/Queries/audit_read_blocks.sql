-- Sealed blocks in chain order, a page at a time.
select block_number, positions, event_hashes, merkle_root, previous_chain_hash, chain_hash, sealed_at
from ledger.blocks
where block_number > @after_block_number
order by block_number
limit @max_count;
