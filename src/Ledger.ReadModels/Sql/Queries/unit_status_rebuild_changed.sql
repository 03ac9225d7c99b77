-- Units whose stream moved on after the replay folded them (or that it never saw): refolded under the swap's lock.
-- mt_tombstone is Marten's stream for the sequence numbers of failed sessions, never a unit.
select s.id
from ledger.mt_streams s
left join ledger.unit_status__rebuild u on u.serial = s.id
where s.version > 0 and s.id <> 'mt_tombstone' and (u.serial is null or u.version <> s.version);
