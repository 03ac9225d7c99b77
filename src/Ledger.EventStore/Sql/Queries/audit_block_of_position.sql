-- The block that sealed a position (gin index on positions).
select block_number, positions, event_hashes, merkle_root, previous_chain_hash, chain_hash, sealed_at
from ledger.blocks
where positions @> array[@position::bigint];
