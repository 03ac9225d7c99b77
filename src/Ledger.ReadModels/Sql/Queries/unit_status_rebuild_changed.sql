-- Units whose stream moved on after the replay folded them (or that it never saw): refolded under the swap's lock.
select s.stream_id
from ledger.streams s
left join ledger.unit_status__rebuild u on u.serial = s.stream_id
where s.version > 0 and (u.serial is null or u.version <> s.version);
