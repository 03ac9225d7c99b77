-- Where the sealer stopped (a position: the feed is in position order), and the block the next one chains onto.
select s.sealed_through_position, b.block_number, b.chain_hash
from ledger.audit_sealer s
left join lateral (
    select block_number, chain_hash from ledger.blocks order by block_number desc limit 1
) b on true;
