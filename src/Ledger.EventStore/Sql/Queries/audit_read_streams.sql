-- Marten's streams table as appends keep it (mt_quick_append_events), to check against the events: each stream's
-- version must be its last event's, in the one tenant, not archived (Marten's readers would skip it). Marten's tombstone
-- stream holds no events of the ledger.
select id, version, tenant_id, is_archived from ledger.mt_streams where id <> 'mt_tombstone' and version > 0 order by id;
