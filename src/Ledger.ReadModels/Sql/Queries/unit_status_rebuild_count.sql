-- How many units the rebuild will fold (for its progress): every stream with events but Marten's tombstone stream.
select count(*) from ledger.mt_streams where version > 0 and id <> 'mt_tombstone';
