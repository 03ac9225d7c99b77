-- Moves each factory's count from what the batch read to what it counted, or fails the batch (40001).
select ledger.integration_milestones_count(@factory_ids::text[], @expected::bigint[], @counted::bigint[]);
