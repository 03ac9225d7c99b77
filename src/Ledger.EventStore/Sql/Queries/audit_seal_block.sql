insert into ledger.blocks (block_number, positions, event_hashes, merkle_root, previous_chain_hash, chain_hash, sealed_at)
values (@block_number, @positions, @event_hashes, @merkle_root, @previous_chain_hash, @chain_hash, @sealed_at);

update ledger.audit_sealer set sealed_through_position = @through_position;
